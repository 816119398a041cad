"""Open311 GeoReport v2 conformance of a live Tarmim server, in XML and JSON.

Run by tests/suites/open311.sh against a server it started on PostgreSQL with the demo
city (TARMIM_TEST_URL; the demo api_key is public). Every endpoint in both formats:
well-formed XML with the spec's root and element names, JSON types (strings for ids and
codes), datetimes with their UTC offset, filters, paging, errors, FixMyStreet's
servicerequestupdates.
"""

import os
import re
import xml.etree.ElementTree as ET

import pytest
import requests

BASE = os.environ.get("TARMIM_TEST_URL", "http://127.0.0.1:8137") + "/open311/v2"
KEY = os.environ.get("TARMIM_TEST_API_KEY", "o311_demo0000000000000000000000000000")
FORMATS = ["xml", "json"]
# Centre of demo district D06 (a 4 x 3 grid around 35.69 N, 51.39 E).
LAT, LON = 35.735 - 0.03 - 0.015, 51.32 + 0.035 + 0.0175
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)$")
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
]


def get(path, **params):
    return requests.get(f"{BASE}/{path}", params=params, timeout=30)


def post(path, data=None, files=None):
    return requests.post(f"{BASE}/{path}", data=data, files=files, timeout=30)


def parse(resp, fmt):
    """The body as ElementTree root or JSON, after checking the content type."""
    ctype = resp.headers.get("content-type", "")
    if fmt == "xml":
        assert ctype.startswith("text/xml"), ctype
        assert resp.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), resp.text[:80]
        return ET.fromstring(resp.content)
    assert ctype.startswith("application/json"), ctype
    return resp.json()


def check_error(resp, fmt, code):
    assert resp.status_code == code, resp.text
    body = parse(resp, fmt)
    if fmt == "xml":
        assert body.tag == "errors"
        errors = body.findall("error")
        assert len(errors) >= 1
        assert errors[0].findtext("code") == str(code)
        assert errors[0].findtext("description")
    else:
        assert isinstance(body, list) and body
        assert body[0]["code"] == code
        assert isinstance(body[0]["description"], str) and body[0]["description"]


def requests_of(resp, fmt):
    """A service_requests answer as a list of dicts of strings (XML) or values (JSON)."""
    body = parse(resp, fmt)
    if fmt == "json":
        assert isinstance(body, list)
        return body
    assert body.tag == "service_requests", body.tag
    out = []
    for r in body:
        assert r.tag == "request"
        out.append({c.tag: (c.text or "") for c in r})
    return out


def file_report(fmt="json", **extra):
    data = {"api_key": KEY, "service_code": "graffiti", "lat": LAT, "long": LON,
            "description": "Conformance test report"}
    data.update(extra)
    r = post(f"requests.{fmt}", data)
    assert r.status_code == 201, r.text
    return requests_of(r, fmt)[0]


@pytest.fixture(scope="module")
def filed():
    return file_report(description="Paint on the school wall", address_string="Kargar St")


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery(fmt):
    r = get(f"discovery.{fmt}")
    assert r.status_code == 200
    body = parse(r, fmt)
    if fmt == "xml":
        assert body.tag == "discovery"
        ep = body.find("endpoints/endpoint")
        assert ep.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
        assert [f.text for f in ep.findall("formats/format")] == ["text/xml", "application/json"]
        assert ISO.match(body.findtext("changeset"))
    else:
        ep = body["endpoints"][0]
        assert ep["url"].endswith("/open311/v2")
        assert ep["formats"] == ["text/xml", "application/json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_services(fmt):
    r = get(f"services.{fmt}")
    assert r.status_code == 200
    body = parse(r, fmt)
    if fmt == "xml":
        assert body.tag == "services"
        services = [{c.tag: c.text for c in s} for s in body]
        assert all(s.tag == "service" for s in body)
        assert {s["metadata"] for s in services} <= {"true", "false"}
    else:
        services = body
        for s in services:
            assert isinstance(s["service_code"], str) and isinstance(s["metadata"], bool)
    codes = {s["service_code"] for s in services}
    assert {"pothole", "garbage", "streetlight", "water_leak"} <= codes
    for s in services:
        for k in ("service_code", "service_name", "description", "metadata", "type", "keywords", "group"):
            assert k in s, (k, s)


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definitions_cover_every_datatype(fmt):
    seen = set()
    for code in ("pothole", "streetlight", "violation", "garbage"):
        r = get(f"services/{code}.{fmt}")
        assert r.status_code == 200, r.text
        body = parse(r, fmt)
        if fmt == "xml":
            assert body.tag == "service_definition"
            assert body.findtext("service_code") == code
            attrs = body.findall("attributes/attribute")
            for a in attrs:
                assert a.findtext("variable") in ("true", "false")
                assert a.findtext("required") in ("true", "false")
                assert a.findtext("order").isdigit()
                seen.add(a.findtext("datatype"))
                if a.findtext("datatype").endswith("valuelist"):
                    assert a.findall("values/value/key")
        else:
            assert body["service_code"] == code
            for a in body["attributes"]:
                assert isinstance(a["code"], str) and isinstance(a["required"], bool)
                assert isinstance(a["order"], int)
                seen.add(a["datatype"])
                if a["datatype"].endswith("valuelist"):
                    assert all(isinstance(v["key"], str) for v in a["values"])
    assert seen == {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
    check_error(get(f"services/no_such_service.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_request_answer(fmt):
    r = post(f"requests.{fmt}", {"api_key": KEY, "service_code": "pothole", "lat": LAT + 0.002,
                                   "long": LON, "attribute[size]": "medium",
                                   "attribute[hazards][]": ["water", "cyclists"],
                                   "email": "conformance@example.org"})
    assert r.status_code == 201, r.text
    [req] = requests_of(r, fmt)
    assert re.match(r"^T-[0-9A-F]{12}$", req["service_request_id"])
    assert req["token"] and req["tracking_code"]
    assert re.match(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$", req["tracking_code"])
    assert "conformance@example.org" not in r.text


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_one_request(fmt, filed):
    rid = filed["service_request_id"]
    r = get(f"requests/{rid}.{fmt}")
    assert r.status_code == 200
    reqs = requests_of(r, fmt)
    assert len(reqs) == 1
    req = reqs[0]
    for k in REQUEST_FIELDS:
        assert k in req, k
    assert req["service_request_id"] == rid
    assert req["service_code"] == "graffiti"
    assert req["status"] == "open"
    assert req["address"] == "Kargar St"
    assert ISO.match(req["requested_datetime"]) and ISO.match(req["updated_datetime"])
    assert req["requested_datetime"].endswith("+03:30")
    if fmt == "json":
        assert isinstance(req["lat"], float) and isinstance(req["service_request_id"], str)
    else:
        assert abs(float(req["lat"]) - LAT) < 1e-9
    check_error(get(f"requests/T-FFFFFFFFFFFF.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tokens(fmt, filed):
    r = get(f"tokens/{filed['token']}.{fmt}")
    assert r.status_code == 200
    [t] = requests_of(r, fmt)
    assert t["service_request_id"] == filed["service_request_id"]
    assert t["token"] == filed["token"]
    check_error(get(f"tokens/unknown-token.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_list_filters_and_paging(fmt, filed):
    rid = filed["service_request_id"]
    all_reqs = requests_of(get(f"requests.{fmt}", page_size=200), fmt)
    assert rid in [r["service_request_id"] for r in all_reqs]
    times = [r["requested_datetime"] for r in all_reqs]
    assert all(ISO.match(t) for t in times)
    p1 = requests_of(get(f"requests.{fmt}", page_size=5, page=1), fmt)
    p2 = requests_of(get(f"requests.{fmt}", page_size=5, page=2), fmt)
    assert len(p1) == 5 and p2
    assert not {r["service_request_id"] for r in p1} & {r["service_request_id"] for r in p2}
    graffiti = requests_of(get(f"requests.{fmt}", service_code="graffiti", page_size=200), fmt)
    assert graffiti and all(r["service_code"] == "graffiti" for r in graffiti)
    for status in ("open", "closed"):
        got = requests_of(get(f"requests.{fmt}", status=status, page_size=200), fmt)
        assert all(r["status"] == status for r in got)
    closed = requests_of(get(f"requests.{fmt}", status="closed", page_size=200), fmt)
    assert closed, "the demo city has closed tasks"
    ids = requests_of(get(f"requests.{fmt}", service_request_id=f"{rid},{closed[0]['service_request_id']}"), fmt)
    assert {r["service_request_id"] for r in ids} == {rid, closed[0]["service_request_id"]}
    none = requests_of(get(f"requests.{fmt}", start_date="2001-01-01T00:00:00Z", end_date="2001-02-01T00:00:00+03:30"), fmt)
    assert none == []
    later = requests_of(get(f"requests.{fmt}", updated_after="2999-01-01T00:00:00Z"), fmt)
    assert later == []
    near = requests_of(get(f"requests.{fmt}", lat=LAT, long=LON, radius=30, service_code="graffiti"), fmt)
    assert rid in [r["service_request_id"] for r in near]


@pytest.mark.parametrize("fmt", FORMATS)
def test_extensions(fmt, filed):
    rid = filed["service_request_id"]
    r = get(f"requests/{rid}.{fmt}", extensions="true")
    body = parse(r, fmt)
    if fmt == "xml":
        req = body.find("request")
        assert req.findtext("extended_attributes/fms_status") == "open"
        notes = req.findall("notes/note")
        assert [n.findtext("summary") for n in notes][:2] == ["created", "routed"]
        assert all(ISO.match(n.findtext("datetime")) for n in notes)
    else:
        ext = body[0]["extended_attributes"]
        assert ext["internal_status"] == "queued" and isinstance(ext["supporters"], int)
        assert body[0]["notes"][0]["type"] == "opened"


@pytest.mark.parametrize("fmt", FORMATS)
def test_errors(fmt, filed):
    base = {"api_key": KEY, "service_code": "graffiti", "lat": LAT, "long": LON}
    check_error(post(f"requests.{fmt}", {**base, "api_key": "wrong"}), fmt, 403)
    check_error(post(f"requests.{fmt}", {k: v for k, v in base.items() if k != "service_code"}), fmt, 400)
    check_error(post(f"requests.{fmt}", {**base, "service_code": "nope"}), fmt, 400)
    check_error(post(f"requests.{fmt}", {**base, "lat": "abc"}), fmt, 400)
    check_error(post(f"requests.{fmt}", {**base, "long": 200}), fmt, 400)
    check_error(post(f"requests.{fmt}", {**base, "lat": 10, "long": 10}), fmt, 400)
    check_error(post(f"requests.{fmt}", {**base, "description": "y" * 4001}), fmt, 400)
    check_error(post(f"requests.{fmt}", {**base, "description": "<b>bold</b>"}), fmt, 400)
    check_error(get(f"requests.{fmt}", page_size=1000000), fmt, 400)
    check_error(get(f"requests.{fmt}", start_date="2026-01-01T00:00:00Z", end_date="2026-12-01T00:00:00Z"), fmt, 400)
    bad = requests.post(f"{BASE}/requests.{fmt}", data=b"--x\r\nbroken",
                        headers={"content-type": "multipart/form-data; boundary=x"}, timeout=30)
    check_error(bad, fmt, 400)
    huge = post(f"requests.{fmt}", base, files={"media[]": ("big.jpg", b"\xff\xd8" + b"0" * 300_000, "image/jpeg")})
    check_error(huge, fmt, 413)


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicates_and_support(fmt):
    first = file_report(lat=LAT - 0.004, long=LON - 0.004, description="First report")
    r = post(f"requests.{fmt}", {"api_key": KEY, "service_code": "graffiti", "lat": LAT - 0.004 + 0.0001,
                                   "long": LON - 0.004, "description": "Second report"})
    assert r.status_code == 201
    body = parse(r, fmt)
    if fmt == "xml":
        dups = body.findall("request/duplicates/duplicate")
        assert first["service_request_id"] in [d.findtext("service_request_id") for d in dups]
        assert all(float(d.findtext("distance")) <= 50 for d in dups)
    else:
        dups = body[0]["duplicates"]
        assert first["service_request_id"] in [d["service_request_id"] for d in dups]
        assert all(isinstance(d["supporters"], int) for d in dups)
    s = post(f"requests/{first['service_request_id']}/support.{fmt}", {"api_key": KEY})
    assert s.status_code == 201, s.text
    [sup] = requests_of(s, fmt)
    assert int(sup["supporters"]) == 1 and sup["tracking_code"]
    check_error(post(f"requests/{first['service_request_id']}/support.{fmt}", {"api_key": "x"}), fmt, 403)


@pytest.mark.parametrize("fmt", FORMATS)
def test_servicerequestupdates(fmt, filed):
    r = get(f"servicerequestupdates.{fmt}")
    assert r.status_code == 200
    body = parse(r, fmt)
    statuses = {"OPEN", "INVESTIGATING", "IN_PROGRESS", "ACTION_SCHEDULED", "FIXED", "CLOSED",
                "DUPLICATE", "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION", "INTERNAL_REFERRAL"}
    if fmt == "xml":
        assert body.tag == "service_requests_updates"
        ups = [{c.tag: c.text for c in u} for u in body]
        assert all(u.tag == "request_update" for u in body)
    else:
        ups = body
    assert ups, "the demo city's tasks changed in the last day"
    for u in ups:
        assert u["update_id"] and u["service_request_id"] and u["status"] in statuses
        assert ISO.match(u["updated_datetime"]) and u["description"]
    assert filed["service_request_id"] in [u["service_request_id"] for u in ups]
    p = post(f"servicerequestupdates.{fmt}", {"api_key": KEY, "service_request_id": filed["service_request_id"],
                                              "status": "OPEN", "description": "Still there",
                                              "email": "fms@example.org", "update_id_ext": "42",
                                              "updated_datetime": "2026-11-29T10:00:00Z"})
    assert p.status_code == 200, p.text
    body = parse(p, fmt)
    if fmt == "xml":
        assert body.tag == "service_request_updates"
        assert body.findtext("request_update/update_id").startswith("U-")
    else:
        assert body[0]["update_id"].startswith("U-")
    check_error(get(f"servicerequestupdates.{fmt}", start_date="2025-01-01T00:00:00Z", end_date="2025-12-01T00:00:00Z"), fmt, 400)
    check_error(post(f"servicerequestupdates.{fmt}", {"api_key": "bad", "service_request_id": filed["service_request_id"], "description": "x"}), fmt, 403)


MESSAGE_SERVICES = ["msg_complaint", "msg_criticism", "msg_suggestion", "msg_idea", "msg_thanks"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_message_services_are_listed_without_location_or_attributes(fmt):
    body = parse(get(f"services.{fmt}"), fmt)
    if fmt == "xml":
        services = [{c.tag: c.text for c in s} for s in body]
    else:
        services = body
    msgs = [s for s in services if s["service_code"].startswith("msg_")]
    assert [s["service_code"] for s in msgs] == MESSAGE_SERVICES
    for s in msgs:
        assert s["type"] == "realtime"
        assert s["metadata"] in (False, "false")
        assert s["group"] == "messages"
        assert "no location required" in s["description"]
    for code in MESSAGE_SERVICES:
        d = parse(get(f"services/{code}.{fmt}"), fmt)
        if fmt == "xml":
            assert d.tag == "service_definition" and d.findtext("service_code") == code
            assert list(d.find("attributes")) == []
        else:
            assert d["service_code"] == code and d["attributes"] == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("code", MESSAGE_SERVICES)
def test_message_services_file_without_a_location(fmt, code):
    r = post(f"requests.{fmt}", {"api_key": KEY, "service_code": code,
                                "description": f"Conformance {code}", "email": "a@example.org"})
    assert r.status_code == 201, r.text
    req = requests_of(r, fmt)[0]
    assert req["service_request_id"].startswith("M-")
    assert re.match(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$", req["tracking_code"])
    assert req["service_notice"]
    # Placed: accepted too; refused without words, with HTML or with media.
    r = post(f"requests.{fmt}", {"api_key": KEY, "service_code": code, "lat": LAT, "long": LON,
                                "description": "Placed"})
    assert r.status_code == 201, r.text
    check_error(post(f"requests.{fmt}", {"api_key": KEY, "service_code": code}), fmt, 400)
    check_error(post(f"requests.{fmt}", {"api_key": KEY, "service_code": code,
                                         "description": "<b>x</b>"}), fmt, 400)
    check_error(post(f"requests.{fmt}", {"api_key": KEY, "service_code": code, "description": "x",
                                         "media_url": "http://example.org/a.jpg"}), fmt, 400)
    check_error(post(f"requests.{fmt}", {"service_code": code, "description": "x"}), fmt, 403)
