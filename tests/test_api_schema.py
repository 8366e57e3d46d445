"""The API does what its OpenAPI schema says (issue #25): schemathesis fuzzes every operation of
the real app (``create_app`` over the session's database, in process) with every check on, in
every phase its command line runs (examples, coverage, fuzzing, stateful), and finds nothing.
It runs through schemathesis's engine, as ``schemathesis run`` does (its pytest plugin's
fixture loader does not work with pytest 9).

The ids in paths are real in most cases (``SEEDED``; the rest are drawn): a chatbot with a
document and FAQs, which its owner's token opens (the first security scheme; the service key
is configured too), one of its passages, its website widget (called from its own origin), and
a second chatbot of the same owner whose language the fuzzer may change (it has no chunks, so a
change re-embeds nothing). The webhooks get the right secret. The fuzzing phase draws up to
``EXAMPLES`` cases per operation (all of them where the inputs allow that many: ``GET
/healthz`` has nothing to vary), besides the other phases' cases, from a fixed seed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from psycopg_pool import ConnectionPool
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error

from core.settings import Settings
from db import chatbots as chatbots_db
from db import connections as connections_db
from db import sources as sources_db
from intaj.http import create_app
from pipeline.embed import Embedder
from tests.fix_api import SERVICE_KEY, api_settings, token
from tests.knowledge import add_document, add_faqs, tenants

EXAMPLES = 50
SEEDED = 0.8
SEED = 25
SECRET = "webhook-secret-for-the-schema-test"
ORIGIN = "https://shop.example"
PASSAGES = [
    "Every bike rental includes a free helmet and a D-lock.",
    "Returning a rental bike late costs 15 dollars for every started half hour.",
    "The shop opens at nine on weekdays and at ten on Sundays.",
]
FAQS = [("Do you rent tandem bikes?", "Yes, on weekends, for 40 dollars a day.")]


def fuzz_config(ids: dict[str, Any], owner_token: str, language_bot: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "cache": {"enabled": False},  # no replay of earlier runs' crashes: the same run each time
        "generation": {"max-examples": EXAMPLES, "database": "none"},
        # every check, the response time one included (generous: CI has two cores)
        "checks": {
            "enabled": True,
            "max_response_time": 30,
            # well-formed input may meet a limit of the owner's plan (402), as a conflict (409)
            # or a rate limit (429), which schemathesis already counts as answers
            "positive_data_acceptance": {"expected-statuses": [
                "2xx", "3xx", "401", "402", "403", "404", "409", "429", "5xx",
            ]},
            # a body made too large by an over-long array is refused as too large (413) before
            # its schema is looked at: a rejection too (schemathesis's list lacks 413)
            "negative_data_rejection": {"expected-statuses": [
                "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428",
                "429", "5xx",
            ]},
        },
        "request-timeout": 60,
        "auth": {"openapi": {
            "APIKeyHeader": {"api_key": SERVICE_KEY},
            "HTTPBearer": {"bearer": owner_token},
            "WebhookSecret": {"bearer": SECRET},
        }},
        # the seeded ids, in most cases: the rest are drawn (and mostly name nothing: 404)
        "dictionaries": {name: {"values": [value]} for name, value in ids.items()}
        | {"language_bot": {"values": [language_bot]}},
        "parameters": {f"path.{name}": {"dictionary": name, "probability": SEEDED} for name in ids},
        "operations": [
            {"include-path-regex": "^/v1/widgets/", "headers": {"Origin": ORIGIN}},
            {"include-path": "/v1/chatbots/{chatbot_id}/language", "parameters": {
                "path.chatbot_id": {"dictionary": "language_bot", "probability": SEEDED}}},
        ],
    })  # fmt: skip


@dataclass
class Seeded:
    settings: Settings  # the app's: API credentials, the webhook secret, no widget limits
    ids: dict[str, Any]  # path parameter -> the seeded id
    owner_token: str
    language_bot: str


@pytest.fixture(scope="module")
def seeded(pool: ConnectionPool, settings: Settings, embedder: Embedder) -> Iterator[Seeded]:
    """A chatbot made for the run, and the app's settings."""
    configured = api_settings(settings).model_copy(update={
        "webhook_secret": SecretStr(SECRET),
        # the fuzzer's hundreds of widget messages: answered, not rate limited (the last test
        # and test_web.py test the limits)
        "widget_messages_per_minute": 100_000,
        "widget_ip_messages_per_minute": 100_000,
        "whatsapp_worker": False,  # no background worker: the app's lifespan outlives the test
    })  # fmt: skip
    with tenants(pool, "fuzzed") as (bot,):
        with pool.connection() as conn:  # the owner's too, so that the token opens it
            language_bot = chatbots_db.create(conn, user_id=bot.user_id, name="fuzzed-language")
        source_id = add_document(pool, embedder, bot, "guide.txt", PASSAGES)
        add_faqs(pool, embedder, bot, FAQS)
        with pool.connection() as conn:
            sources_db.mark_ready(
                conn, source_id=source_id, content_hash="h", size_bytes=1,
                chunk_count=len(PASSAGES), model=embedder.model_name,
            )  # fmt: skip
            widget = connections_db.add_website(
                conn, user_id=bot.user_id, chatbot_id=bot.id, origins=[ORIGIN]
            )
            row = conn.execute(
                "SELECT id FROM chunks WHERE chatbot_id = %s ORDER BY id LIMIT 1", (bot.id,)
            ).fetchone()
        assert row is not None
        ids = {"chatbot_id": bot.id, "widget_id": widget.id, "chunk_id": row[0]}
        yield Seeded(configured, ids, token(bot.user_id), language_bot.id)


@pytest.fixture(scope="module")
def api_schema(seeded: Seeded, pool: ConnectionPool) -> Any:
    """The schema of the real app, set to fuzz it with the seeded ids."""
    config = fuzz_config(seeded.ids, seeded.owner_token, seeded.language_bot)
    app = create_app(seeded.settings, pool=pool)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def fuzz(schema: Any) -> tuple[list[str], Counter[str], Counter[tuple[str, int]]]:
    """What schemathesis finds in ``schema`` (one line each), how many cases each operation
    got, and the statuses it answered."""
    from schemathesis.engine import Status, events, from_schema

    found: list[str] = []
    cases: Counter[str] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases[event.recorder.label] += len(event.recorder.cases)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    key = (event.recorder.label, interaction.response.status_code)
                    statuses[key] += 1
            for checks in event.recorder.checks.values():
                found += [
                    f"{event.recorder.label}: {c.name}: {c.failure_info.failure.title}\n"
                    f"{c.failure_info.failure.message}\n{c.failure_info.code_sample[:1000]}"
                    for c in checks
                    if c.status == Status.FAILURE and c.failure_info is not None
                ]
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error: {event.value!r}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal error: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            found += [f"{f.operation}: {f.title}: {f.message}" for f in event.failures]
    return found, cases, statuses


def test_the_api_does_what_its_schema_says(api_schema: Any) -> None:
    found, cases, statuses = fuzz(api_schema)
    print(f"{sum(cases.values())} cases:", dict(cases))
    print("statuses:", sorted(statuses.items()))
    paths = api_schema.raw_schema["paths"]
    operations = {f"{method.upper()} {path}" for path in paths for method in paths[path]}
    assert operations <= set(cases)  # every operation ran
    # the seeded ids resolve and the credentials open them: each of ours answered a success
    # (WhatsApp's routes need a connection of their own)
    answered = {label for (label, status), _ in statuses.items() if status < 300}
    assert {op for op in operations if "whatsapp" not in op} <= answered
    assert not found, "\n\n".join(dict.fromkeys(found))


def test_a_limit_and_a_lost_database_answer_as_the_schema_says(
    seeded: Seeded, pool: ConnectionPool
) -> None:
    """What the fuzz run does not reach (its widget has no limit, its database answers): a
    widget over its limit (429, ``Retry-After``) and routes without a database (503), checked
    against the schema by schemathesis (status, headers, body)."""
    limited = seeded.settings.model_copy(update={"widget_ip_messages_per_minute": 1})
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(limited, pool=pool))
    ask = schema["/v1/widgets/{widget_id}/messages"]["POST"].Case(
        path_parameters={"widget_id": seeded.ids["widget_id"]},
        body={"message": FAQS[0][0]},
        headers={"Origin": ORIGIN},
    )
    assert ask.call_and_validate().status_code == 200
    refused = ask.call_and_validate()
    assert refused.status_code == 429 and int(refused.headers["retry-after"][0]) >= 1

    gone = ConnectionPool("", open=False)  # a pool that gives no connection: PoolClosed
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(limited, pool=gone))
    key, secret = {"X-API-Key": SERVICE_KEY}, {"Authorization": f"Bearer {SECRET}"}
    record = {"id": str(uuid.uuid4())}
    event: dict[str, Any] = {"type": "INSERT", "table": "data_sources", "record": record}
    calls = [
        schema["/healthz"]["GET"].Case(),
        schema["/v1/chatbots"]["GET"].Case(headers=key),
        schema["/v1/chatbots/{chatbot_id}/search"]["POST"].Case(
            path_parameters={"chatbot_id": seeded.ids["chatbot_id"]},
            headers=key,
            body={"query": "helmet"},
        ),
        schema["/v1/widgets/{widget_id}"]["GET"].Case(
            path_parameters={"widget_id": seeded.ids["widget_id"]}, headers={"Origin": ORIGIN}
        ),
        schema["/v1/webhooks/database"]["POST"].Case(headers=secret, body=event),
    ]
    for case in calls:  # a 503 is by design here: every other check holds
        reply = case.call_and_validate(excluded_checks=[not_a_server_error])
        assert reply.status_code == 503, (case.path, reply.text)
