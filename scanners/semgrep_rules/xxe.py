# Test target for xxe.yaml (semgrep --test). Deliberately insecure code.
import xml.dom.minidom
import xml.etree.ElementTree as ET
import xml.sax
from xml.sax.handler import feature_external_ges

import defusedxml.ElementTree as DET
import xmltodict
from flask import Flask, request
from lxml import etree

app = Flask(__name__)


def stdlib_cases(payload: bytes, path: str):
    # ruleid: airlock.xxe.stdlib-xml-parse
    root = ET.fromstring(payload)
    # ruleid: airlock.xxe.stdlib-xml-parse
    tree = ET.parse(path)
    # ruleid: airlock.xxe.stdlib-xml-parse
    doc = xml.dom.minidom.parseString(payload)
    # ok: airlock.xxe.stdlib-xml-parse
    safe = DET.fromstring(payload)
    # ok: airlock.xxe.stdlib-xml-parse
    skeleton = ET.fromstring("<config><debug>false</debug></config>")
    # ok: airlock.xxe.stdlib-xml-parse
    out = ET.tostring(root)
    return root, tree, doc, safe, skeleton, out


def lxml_cases(payload: bytes):
    # ruleid: airlock.xxe.lxml-entity-resolution
    parser = etree.XMLParser(resolve_entities=True)
    # ruleid: airlock.xxe.lxml-entity-resolution
    parser2 = etree.XMLParser(load_dtd=True, no_network=False)
    # ok: airlock.xxe.lxml-entity-resolution
    hardened = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(payload, parser), parser2, hardened


def sax_cases(path, handler, payload):
    parser = xml.sax.make_parser()
    # ruleid: airlock.xxe.external-entities-enabled
    parser.setFeature(feature_external_ges, True)
    # ok: airlock.xxe.external-entities-enabled
    parser.setFeature(feature_external_ges, False)
    parser.setContentHandler(handler)
    parser.parse(path)
    # ruleid: airlock.xxe.external-entities-enabled
    data = xmltodict.parse(payload, disable_entities=False)
    # ok: airlock.xxe.external-entities-enabled
    data2 = xmltodict.parse(payload)
    return data, data2


@app.route("/import", methods=["POST"])
def import_xml():
    body = request.get_data()
    # ruleid: airlock.xxe.request-data-to-xml-parser
    doc = etree.fromstring(body)
    hardened = etree.XMLParser(resolve_entities=False, no_network=True)
    # ok: airlock.xxe.request-data-to-xml-parser
    safe = etree.fromstring(body, parser=hardened)
    # ok: airlock.xxe.request-data-to-xml-parser
    defused = DET.fromstring(body)
    # ok: airlock.xxe.request-data-to-xml-parser
    plain = xmltodict.parse(body)
    return str((doc, safe, defused, plain))
