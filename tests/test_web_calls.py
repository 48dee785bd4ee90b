"""Call log, call detail and recording playback (Flask test client on a real store)."""

from __future__ import annotations

import time

from appliance.store import OUTCOMES
from tests.web_fixtures import (_shared_engine, app, client, fake_engine, login,  # noqa: F401
                                store)

T0 = 1_764_000_000.0


def _call(store, **fields):
    base = dict(caller_number="5551234567", caller_name="DOE JOHN", caller_status="ok",
                arrived_at=T0, answered_at=T0 + 7, menu_key="1", queue="sales",
                queued_at=T0 + 12, staff_id="alice", staff_answered_at=T0 + 15,
                ended_at=T0 + 75, wait_s=3.0, talk_s=60.0, outcome="answered",
                hangup_signal="loop")
    base.update(fields)
    line = base.pop("line", "line1")
    return store.new_call(line, **base)


def _wav(path, seconds=1.0):
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * int(seconds * 8000 * 4 / 256))
    return path


def test_call_log_lists_newest_first_with_labels_and_player(client, store, app):
    store.save_staff("alice", "Alice", ["sales"], "headset1")
    first = _call(store, recording="2025/11/call-1.wav")
    second = _call(store, arrived_at=T0 + 600, caller_number=None, caller_name=None,
                   caller_status="private", menu_key=None, queue=None, staff_id=None,
                   staff_answered_at=None, talk_s=None, wait_s=None,
                   outcome="abandoned_in_menu")
    login(client, "sam")
    page = client.get("/calls").data.decode()
    assert page.index(f'data-call="{second}"') < page.index(f'data-call="{first}"')
    assert OUTCOMES["answered"] in page and OUTCOMES["abandoned_in_menu"] in page
    assert "5551234567 DOE JOHN" in page and "Private number" in page
    assert "Alice" in page and "60 s" in page
    local = time.strftime("%H:%M:%S", time.localtime(T0))
    assert local in page  # local time, readable
    assert f'<audio controls preload="none" src="/recordings/{first}">' in page
    assert page.count("<audio") == 1


def test_call_log_pages(client, store, monkeypatch):
    import web.calls

    monkeypatch.setattr(web.calls, "PER_PAGE", 2)
    ids = [_call(store, arrived_at=T0 + i) for i in range(5)]
    login(client, "sam")
    one = client.get("/calls").data.decode()
    assert f'data-call="{ids[4]}"' in one and f'data-call="{ids[2]}"' not in one
    assert 'href="/calls?page=2"' in one
    three = client.get("/calls?page=3").data.decode()
    assert f'data-call="{ids[0]}"' in three and "Older calls" not in three
    assert "Newer calls" in three
    assert "No more calls" in client.get("/calls?page=9").data.decode()


def test_call_detail_has_every_timestamp_and_the_events(client, store):
    call_id = _call(store)
    store.event(call_id, "dtmf", "1", T0 + 11)
    store.event(call_id, "staff_answered", "alice", T0 + 15)
    login(client, "sam")
    page = client.get(f"/calls/{call_id}").data.decode()
    for ts in (T0, T0 + 7, T0 + 12, T0 + 15, T0 + 75):
        assert time.strftime("%H:%M:%S", time.localtime(ts)) in page
    assert "Call arrived" in page and "Key pressed" in page and "Staff answered" in page
    assert OUTCOMES["answered"] in page and "1 min 00 s" in page
    assert client.get("/calls/999").status_code == 404


def test_recording_is_served_with_range_support(client, store, app):
    root = app.config["CALLBOX_RECORDINGS"]
    from pathlib import Path

    wav = _wav(Path(root) / "2025" / "call-1.wav")
    call_id = _call(store, recording="2025/call-1.wav")
    login(client, "sam")
    whole = client.get(f"/recordings/{call_id}")
    assert whole.status_code == 200 and whole.mimetype == "audio/wav"
    assert whole.data == wav.read_bytes()
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(f"/recordings/{call_id}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.data == wav.read_bytes()[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{wav.stat().st_size}"


def test_recording_paths_outside_the_folder_are_refused(client, store, app, tmp_path):
    from pathlib import Path

    secret = tmp_path / "data" / "callbox-secret.wav"
    secret.write_bytes(b"RIFF secret")
    root = Path(app.config["CALLBOX_RECORDINGS"])
    (root / "link.wav").symlink_to(secret)
    login(client, "sam")
    for rel in ("../callbox-secret.wav", str(secret), "link.wav", "a/../../callbox-secret.wav"):
        call_id = _call(store, recording=rel)
        resp = client.get(f"/recordings/{call_id}")
        assert resp.status_code == 404, rel
        assert b"secret" not in resp.data
        assert b"cannot be played here" in resp.data


def test_missing_recording_gets_a_clear_404_page(client, store):
    gone = _call(store, recording="2025/deleted.wav")
    none = _call(store, recording=None)
    login(client, "sam")
    resp = client.get(f"/recordings/{gone}")
    assert resp.status_code == 404 and b"is missing from the appliance" in resp.data
    resp = client.get(f"/recordings/{none}")
    assert resp.status_code == 404 and b"was not recorded" in resp.data
