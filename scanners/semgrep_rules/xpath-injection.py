# Test target for xpath-injection.yaml (semgrep --test). Deliberately insecure code.
import xml.etree.ElementTree as ET

from fastapi import FastAPI
from lxml import etree

api = FastAPI()
TREE = etree.parse("users.xml")
STAFF = ET.parse("staff.xml").getroot()


@api.get("/user")
def user(name: str):
    # ruleid: airlock.xpath-injection.request-data-to-xpath
    emails = TREE.xpath(f"//user[name='{name}']/email/text()")
    # ok: airlock.xpath-injection.request-data-to-xpath
    safe = TREE.xpath("//user[name=$name]/email/text()", name=name)
    # ok: airlock.xpath-injection.request-data-to-xpath
    compiled = etree.XPath("//user[name=$n]")(TREE, n=name)
    # ok: airlock.xpath-injection.request-data-to-xpath
    offset = "alpha".find(name)
    return {"emails": emails, "safe": safe, "compiled": len(compiled), "offset": offset}


@api.get("/staff")
def staff(dept: str):
    # ruleid: airlock.xpath-injection.request-data-to-xpath
    people = STAFF.findall(".//employee[@dept='%s']/name" % dept)
    # ruleid: airlock.xpath-injection.request-data-to-xpath
    finder = etree.XPath("//setting[@key='" + dept + "']")
    return {"people": [p.text for p in people], "n": len(finder(TREE))}
