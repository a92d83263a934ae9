# Test target for sql-injection.yaml (semgrep --test). Deliberately insecure code.
import sqlite3

import pandas as pd
from django.db import connection
from django.db.models.expressions import RawSQL
from fastapi import FastAPI
from flask import Flask, request
from psycopg2 import sql
from sqlalchemy import text

USERS_TABLE = "users"
app = Flask(__name__)
api = FastAPI()


def dbapi_cases(conn: sqlite3.Connection, user_id, name, table, rows):
    cur = conn.cursor()
    # ruleid: airlock.sql-injection.formatted-sql-execute
    cur.execute(f"SELECT * FROM users WHERE id = {user_id}")
    # ruleid: airlock.sql-injection.formatted-sql-execute
    cur.execute("SELECT * FROM users WHERE name = '" + name + "'")
    # ruleid: airlock.sql-injection.formatted-sql-execute
    cur.execute("DELETE FROM %s WHERE id = %d" % (table, user_id))
    query = "UPDATE users SET name = '{}' WHERE id = {}".format(name, user_id)
    # ruleid: airlock.sql-injection.formatted-sql-execute
    conn.execute(query)
    stmt = "SELECT id FROM users WHERE 1 = 1"
    stmt += f" AND name = '{name}'"
    # ruleid: airlock.sql-injection.formatted-sql-execute
    cur.execute(stmt)
    # ruleid: airlock.sql-injection.formatted-sql-execute
    cur.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)
    # ruleid: airlock.sql-injection.formatted-sql-execute
    frame = pd.read_sql(f"SELECT * FROM orders WHERE user = '{name}'", conn)
    # ok: airlock.sql-injection.formatted-sql-execute
    cur.execute("SELECT * FROM users WHERE id = ?", (user_id,))
    # ok: airlock.sql-injection.formatted-sql-execute
    cur.execute("SELECT * FROM users WHERE name = %(name)s", {"name": name})
    # ok: airlock.sql-injection.formatted-sql-execute
    cur.execute(f"SELECT * FROM users")
    # ok: airlock.sql-injection.formatted-sql-execute
    cur.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table)), (user_id,))
    ids = [1, 2, 3]
    # ok: airlock.sql-injection.formatted-sql-execute
    cur.execute("SELECT * FROM users WHERE id IN (%s)" % ",".join("?" * len(ids)), ids)
    # ok: airlock.sql-injection.formatted-sql-execute
    cur.execute(f"SELECT * FROM {USERS_TABLE} WHERE id = ?", (user_id,))
    params = "value-{}".format(name)
    # ok: airlock.sql-injection.formatted-sql-execute
    cur.execute("INSERT INTO t (v) VALUES (?)", (params,))
    return frame


def sqlalchemy_cases(session, engine, email):
    # ruleid: airlock.sql-injection.sqlalchemy-text-formatted
    rows = session.execute(text(f"SELECT * FROM accounts WHERE email = '{email}'"))
    raw = "SELECT * FROM accounts WHERE email = '%s'" % email
    with engine.connect() as c:
        # ruleid: airlock.sql-injection.sqlalchemy-text-formatted
        c.execute(text(raw))
    # ok: airlock.sql-injection.sqlalchemy-text-formatted
    safe = session.execute(text("SELECT * FROM accounts WHERE email = :email"), {"email": email})
    # ok: airlock.sql-injection.sqlalchemy-text-formatted
    label = text("plain text")
    return rows, safe, label


def django_cases(User, username, order):
    # ruleid: airlock.sql-injection.django-raw-formatted
    users = User.objects.raw(f"SELECT * FROM auth_user WHERE username = '{username}'")
    # ruleid: airlock.sql-injection.django-raw-formatted
    qs = User.objects.extra(where=["username = '%s'" % username])
    # ruleid: airlock.sql-injection.django-raw-formatted
    annotated = User.objects.annotate(x=RawSQL("SELECT 1 FROM t WHERE y = " + order, []))
    # ok: airlock.sql-injection.django-raw-formatted
    users2 = User.objects.raw("SELECT * FROM auth_user WHERE username = %s", [username])
    # ok: airlock.sql-injection.django-raw-formatted
    qs2 = User.objects.filter(username=username).order_by(f"-{order}")
    with connection.cursor() as cursor:
        # ruleid: airlock.sql-injection.formatted-sql-execute
        cursor.execute("SELECT name FROM app_item WHERE owner = '%s'" % username)
    return users, qs, annotated, users2, qs2


@app.route("/users")
def users_by_name():
    name = request.args.get("name", "")
    conn = sqlite3.connect("app.db")
    # ruleid: airlock.sql-injection.request-data-to-sql, airlock.sql-injection.formatted-sql-execute
    rows = conn.execute("SELECT id FROM users WHERE name = '%s'" % name).fetchall()
    # ok: airlock.sql-injection.request-data-to-sql
    same = conn.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchall()
    # ok: airlock.sql-injection.request-data-to-sql, airlock.sql-injection.formatted-sql-execute
    by_id = conn.execute(f"SELECT id FROM users WHERE id = {int(name)}").fetchall()
    return str((rows, same, by_id))


@api.get("/items")
def items(sku: str):
    # ruleid: airlock.sql-injection.request-data-to-sql, airlock.sql-injection.sqlalchemy-text-formatted
    stmt = text(f"SELECT * FROM items WHERE sku = '{sku}'")
    # ok: airlock.sql-injection.request-data-to-sql
    bound = text("SELECT * FROM items WHERE sku = :sku").bindparams(sku=sku)
    return {"stmt": str(stmt), "bound": str(bound)}


def overwritten_by_a_constant(conn, name):
    name = "alice"
    # ok: airlock.sql-injection.formatted-sql-execute
    return conn.execute("SELECT id FROM users WHERE name = '%s'" % name).fetchall()
