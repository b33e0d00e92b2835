"""Why an episode ended, as a code follow-up counts by: a return to hospital's reason, a
discharge's outcome (deaths at home among them). Chosen on every path that ends an admitted
episode, never preselected, refused when missing or unknown (naming the field, nothing
written), and shown in Swedish wherever the end of an episode is shown."""

from __future__ import annotations

from sqlalchemy import func, select

from hemma.models import AuditEntry, Episode


def _state(database, eid):
    with database.session() as s:
        e = s.get(Episode, eid)
        ended = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action.in_(("episode.discharge", "episode.return"))))
        return e.state, e.end_reason, e.ended_at, ended


def test_the_api_takes_a_known_code_or_nothing_is_written(world, database, as_user):
    sara = as_user("sara")
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted")
    url = f"/api/v1/patients/{pid}/episodes/{eid}"
    for path, body, field in (
            ("discharge", {"note": "Klar"}, "outcome"),
            ("discharge", {"note": "Klar", "outcome": "finished"}, "outcome"),
            ("discharge", {"note": "Klar", "outcome": "deterioration"}, "outcome"),
            ("return", {"note": "Sämre"}, "reason"),
            ("return", {"note": "Sämre", "reason": "death_expected"}, "reason"),
            ("return", {"note": "Sämre", "reason": ""}, "reason")):
        r = sara.post(f"{url}/{path}", json=body)
        assert r.status_code == 422, (path, body, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert _state(database, eid) == ("admitted", None, None, 0)
    r = sara.post(f"{url}/return", json={"note": "Föll i trappan", "reason": "fall_injury",
                                         "ambulance_informed": True})
    assert r.status_code == 200 and r.json()["end_reason"] == "fall_injury"
    assert sara.get(f"/api/v1/patients/{pid}/episodes").json()[0]["end_reason"] == "fall_injury"
    state, code, ended_at, logged = _state(database, eid)
    assert (state, code, logged) == ("returned", "fall_injury", 1) and ended_at is not None


def test_the_forms_ask_and_the_pages_say_how_the_episode_ended(world, database, as_user):
    sara = as_user("sara")
    home, hospital = world.patient(unit="med"), world.patient(unit="med")
    home_episode = world.episode(home, state="admitted")
    hospital_episode = world.episode(hospital, state="admitted")
    discharge = f"/patients/{home}/episodes/{home_episode}/discharge"

    form = sara.get(discharge).text
    choices = form.split('name="outcome"')[1].split("</select>")[0]
    assert '<option value="">Välj …</option>' in choices and "selected" not in choices
    for words in ("Färdigbehandlad", "Avled i hemmet, förväntat (palliativt)",
                  "Avled i hemmet, oväntat", "Annat utfall"):
        assert words in choices
    assert "Ett förväntat dödsfall i hemmet, i palliativ vård, registreras här" in form
    r = sara.post(discharge, data={"note": "Somnade in lugnt i hemmet, som planerat."})
    assert r.status_code == 422
    assert "Hur vårdtillfället avslutades" in r.text and "Fältet måste fyllas i" in r.text
    # The note typed is kept for the second try; the code is still not chosen for them.
    assert "Somnade in lugnt i hemmet" in r.text
    assert "selected" not in r.text.split('name="outcome"')[1].split("</select>")[0]
    assert _state(database, home_episode)[:3] == ("admitted", None, None)

    r = sara.post(discharge, data={"outcome": "death_expected",
                                   "note": "Somnade in lugnt i hemmet, som planerat."},
                  follow_redirects=False)
    assert r.status_code == 303 and "/summary" in r.headers["location"]
    r = sara.post(f"/patients/{hospital}/episodes/{hospital_episode}/return",
                  data={"reason": "treatment_not_possible", "note": "Kan inte ta tabletter.",
                        "ambulance_informed": "true"}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        assert s.get(Episode, home_episode).end_reason == "death_expected"
        assert s.get(Episode, hospital_episode).end_reason == "treatment_not_possible"

    # The patient's earlier episodes, the unit's board, and the discharge summary.
    history = sara.get(f"/patients/{home}").text.split('id="h-history"')[1]
    assert "Utskriven" in history and "Avled i hemmet, förväntat (palliativt)" in history
    history = sara.get(f"/patients/{hospital}").text.split('id="h-history"')[1]
    assert "Behandlingen kunde inte ges i hemmet" in history
    board = sara.get("/board").text
    assert "Avled i hemmet, förväntat (palliativt), " in board
    assert "utskriven" not in board.split("Avled i hemmet")[0].rsplit("<li>", 1)[-1]
    lisa = as_user("lisa")
    r = lisa.post(f"/patients/{home}/episodes/{home_episode}/summary/draft",
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    summary = lisa.get(f"/patients/{home}/episodes/{home_episode}/summary").text
    assert "Hur vårdtillfället avslutades" in summary
    assert "Avled i hemmet, förväntat (palliativt)" in summary.split('id="outcome"')[1]


def test_episodes_never_admitted_or_ended_before_the_codes_have_none(world, database,
                                                                    as_user):
    sara = as_user("sara")
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="assessing")
    r = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/close", json={"note": "Vill inte"})
    assert r.status_code == 200 and r.json()["end_reason"] is None
    # An episode ended before Hemma asked still shows as it did.
    old = world.patient(unit="med")
    old_episode = world.episode(old, state="discharged")
    with database.session() as s:
        s.get(Episode, old_episode).end_reason = None
    history = sara.get(f"/patients/{old}").text.split('id="h-history"')[1]
    assert "Utskriven" in history and "end-reason" not in history
