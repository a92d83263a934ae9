"""Build top-packages.json: the most-downloaded package names per ecosystem, for the look-alike check.

    python scanners/agent/data/make_top_packages.py [--pypi top-pypi-packages.json] [--npm names.json]
        [--pypi-tsv FILE COLUMN] [--npm-tsv FILE COLUMN] [--go modules.txt] [--limit N] [--known N]
        [--limit-for ECOSYSTEM N] > top-packages.json

The shipped file was built with
    --pypi-tsv pypi.tsv rank_among_15000_most_downloaded --npm-tsv npm.tsv downloads_a_month
    --limit 1000 --limit-for npm 2000 --known 15000
from registry listings of 2026-11 (PyPI: each project's rank among the 15,000 most downloaded; npm: downloads
a month); Go has no ranking there and keeps the seed.

Two lists per ecosystem come out: `<eco>`, the `--limit` most downloaded names, which a new dependency must not
imitate; and `<eco>_known`, the `--known` most downloaded, which are popular enough in their own right never to
be called a look-alike of another (without it, every real package a letter away from a top one would be).

Sources, when you have them (airlock never downloads them itself):
- PyPI: Hugo van Kemenade's "top-pypi-packages" (https://hugovk.github.io/top-pypi-packages/), built from the
  public PyPI BigQuery download table; its JSON is {"rows": [{"project": ..., "download_count": ...}]}.
  Or a tab-separated listing with a header row and a download rank column (`--pypi-tsv FILE COLUMN`, smallest
  rank first; rows without a rank are left out).
- npm: a JSON list of names ordered by downloads, or a tab-separated listing with a downloads column
  (`--npm-tsv FILE COLUMN`, most downloads first).
- Go: a text file of module paths, most imported first (e.g. from pkg.go.dev's "imported by" counts).

Without an input for an ecosystem, its names come from SEED below: a hand-curated list of packages that sit
at the top of those rankings. The shipped file's `sources` says which input built each list.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SEED: dict[str, list[str]] = {
    "pypi": """
boto3 botocore urllib3 requests setuptools certifi charset-normalizer idna typing-extensions python-dateutil
s3transfer packaging six aiobotocore numpy pyyaml s3fs fsspec pip cryptography pydantic cffi attrs
google-api-core pycparser pandas importlib-metadata jmespath rsa pyasn1 zipp click pydantic-core markupsafe
platformdirs wheel jinja2 protobuf filelock pytz colorama tomli pluggy virtualenv pyjwt awscli wrapt
googleapis-common-protos pytest cachetools grpcio google-auth jsonschema pyasn1-modules iniconfig sqlalchemy
docutils pyarrow tzdata aiohttp multidict yarl frozenlist aiosignal psutil requests-oauthlib oauthlib pyparsing
exceptiongroup tomlkit annotated-types scipy isodate soupsieve beautifulsoup4 pillow decorator greenlet
pygments openpyxl werkzeug httpx httpcore anyio sniffio h11 tqdm lxml distlib more-itertools flask
rich markdown-it-py mdurl grpcio-status proto-plus async-timeout openai regex deprecated pyopenssl
requests-toolbelt jsonpointer pynacl paramiko bcrypt gitpython gitdb smmap tenacity sortedcontainers
matplotlib kiwisolver fonttools cycler contourpy scikit-learn joblib threadpoolctl networkx sympy mpmath
torch transformers tokenizers huggingface-hub safetensors redis celery kombu billiard vine amqp
django djangorestframework gunicorn uvicorn fastapi starlette websockets python-dotenv black mypy
mypy-extensions pathspec ruff flake8 pycodestyle pyflakes isort pylint astroid coverage pytest-cov
pytest-mock pytest-xdist execnet tox nox pre-commit identify cfgv nodeenv docker kubernetes
google-cloud-storage google-cloud-core google-resumable-media google-crc32c azure-core azure-storage-blob
msal portalocker pymysql psycopg2 psycopg2-binary psycopg asyncpg sqlparse alembic mako marshmallow
simplejson ujson orjson msgpack xmltodict toml termcolor tabulate prettytable wcwidth prompt-toolkit
ipython traitlets jupyter-core jupyter-client notebook ipykernel tornado pyzmq nest-asyncio
setuptools-scm hatchling poetry-core flit-core build twine keyring jaraco-classes secretstorage jeepney
selenium trio outcome pyrsistent referencing rpds-py jsonschema-specifications arrow pendulum babel
markdown pyodbc sentry-sdk structlog loguru typer shellingham dill cloudpickle pexpect ptyprocess
""".split(),
    "npm": """
lodash react react-dom chalk tslib commander debug ms semver axios express typescript uuid glob minimatch
yargs inherits fs-extra mkdirp rimraf moment async bluebird underscore request classnames prop-types
webpack babel-core @babel/core @babel/runtime core-js eslint prettier jest mocha chai sinon dotenv cors
body-parser cookie-parser jsonwebtoken bcrypt bcryptjs mongoose mongodb mysql mysql2 pg redis ioredis
socket.io ws node-fetch cross-fetch whatwg-url graceful-fs source-map esbuild rollup vite postcss
autoprefixer tailwindcss sass less styled-components next vue angular @angular/core rxjs zone.js jquery
bootstrap d3 three lodash.merge qs cheerio puppeteer playwright ajv colors kleur picocolors ora inquirer
readable-stream safe-buffer string_decoder once wrappy supports-color has-flag ansi-styles escape-string-regexp
strip-ansi ansi-regex color-convert color-name js-yaml yaml minimist optimist nanoid date-fns dayjs luxon
immer redux react-redux zustand mobx vuex pinia graphql apollo-server @apollo/client sequelize prisma
typeorm knex winston pino morgan nodemon concurrently cross-env husky lint-staged ts-node tsx
@types/node @types/react eslint-plugin-react eslint-config-prettier babel-loader css-loader style-loader
file-loader url-loader html-webpack-plugin terser uglify-js clean-css node-sass sharp canvas xml2js
form-data formidable multer busboy http-proxy http-proxy-middleware helmet passport express-session
""".split(),
    "go": """
github.com/stretchr/testify github.com/google/uuid github.com/sirupsen/logrus github.com/spf13/cobra
github.com/spf13/viper github.com/spf13/pflag github.com/pkg/errors github.com/gorilla/mux
github.com/gin-gonic/gin github.com/golang/protobuf google.golang.org/protobuf google.golang.org/grpc
github.com/prometheus/client_golang go.uber.org/zap go.uber.org/atomic go.uber.org/multierr
golang.org/x/net golang.org/x/sys golang.org/x/crypto golang.org/x/text golang.org/x/sync golang.org/x/oauth2
golang.org/x/tools golang.org/x/time gopkg.in/yaml.v2 gopkg.in/yaml.v3 github.com/davecgh/go-spew
github.com/pmezard/go-difflib github.com/google/go-cmp github.com/golang/mock github.com/go-sql-driver/mysql
github.com/lib/pq github.com/jackc/pgx/v5 github.com/redis/go-redis/v9 github.com/aws/aws-sdk-go
github.com/aws/aws-sdk-go-v2 k8s.io/client-go k8s.io/apimachinery k8s.io/api github.com/labstack/echo/v4
github.com/gofiber/fiber/v2 github.com/urfave/cli/v2 github.com/mitchellh/mapstructure github.com/fatih/color
github.com/joho/godotenv github.com/golang-jwt/jwt/v5 github.com/hashicorp/go-multierror
github.com/mattn/go-sqlite3 gorm.io/gorm github.com/rs/zerolog github.com/go-chi/chi/v5
""".split(),
}


def _pypi(path: Path, limit: int) -> list[str]:
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    return [str(r["project"]) for r in rows[:limit]]


def _names(path: Path, limit: int) -> list[str]:
    text = path.read_text(encoding="utf-8")
    names = json.loads(text) if text.lstrip().startswith("[") else text.split()
    return [str(n) for n in names[:limit]]


def ranked_tsv(path: Path, column: str) -> list[str]:
    """Names from a tab-separated listing with a header row, most popular first: by a rank column (smallest
    first; the column's name says "rank") or by a download count (largest first). Rows without it are left out."""
    with path.open(encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if column not in header:
            raise SystemExit(f"{path}: no column {column!r} in its header ({', '.join(header)})")
        at = header.index(column)
        ranked: list[tuple[int, str]] = []
        for line in fh:
            cells = line.rstrip("\n").split("\t")
            if len(cells) > at and cells[at].strip().isdigit():
                ranked.append((int(cells[at]), cells[0]))
    ascending = "rank" in column.lower()
    ranked.sort(key=lambda r: (r[0] if ascending else -r[0], r[1]))
    return [name for _, name in ranked]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pypi", type=Path)
    ap.add_argument("--npm", type=Path)
    ap.add_argument("--pypi-tsv", nargs=2, metavar=("FILE", "COLUMN"))
    ap.add_argument("--npm-tsv", nargs=2, metavar=("FILE", "COLUMN"))
    ap.add_argument("--go", type=Path)
    ap.add_argument("--limit", type=int, default=1000, help="names a new dependency must not imitate")
    ap.add_argument("--limit-for", nargs=2, action="append", default=[], metavar=("ECOSYSTEM", "N"),
                    help="another --limit for one ecosystem (npm's ranking is led by transitive dependencies)")
    ap.add_argument("--known", type=int, default=10000, help="names never called a look-alike themselves")
    args = ap.parse_args(argv)
    ranked: dict[str, list[str]] = {}
    sources: dict[str, str] = {}
    inputs = (("pypi", args.pypi, args.pypi_tsv), ("npm", args.npm, args.npm_tsv), ("go", args.go, None))
    for eco, json_src, tsv in inputs:
        if tsv:
            ranked[eco], sources[eco] = ranked_tsv(Path(tsv[0]), tsv[1]), f"{Path(tsv[0]).name}, column {tsv[1]}"
        elif json_src:
            names = _pypi(json_src, args.known) if eco == "pypi" else _names(json_src, args.known)
            ranked[eco], sources[eco] = names, json_src.name
        else:
            ranked[eco], sources[eco] = SEED[eco], "curated seed"
    out: dict[str, object] = {"generator": "scanners/agent/data/make_top_packages.py", "sources": sources}
    limits = {eco: int(n) for eco, n in args.limit_for}
    for eco, names in ranked.items():
        names = list(dict.fromkeys(names))
        out[eco] = names[: limits.get(eco, args.limit)]
        out[f"{eco}_known"] = sorted(names[: args.known])
    json.dump(out, sys.stdout, indent=0)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
