"""Label letters: every notified decision is a French document (HTML, PDF) with a DPID task to post it;
the posting starts the wait for the acknowledgement of receipt, whose absence makes a reminder task (L9)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pypdf

from domain import label as L
from domain.deadlines import deadline_instant
from domain.label import LabelStage
from domain.label_contract import LETTER_QUERY, RegisteredLetter
from domain.label_contract import ApplicationMessages as A
from domain.tasks import LETTER_TO_SEND
from domain.label_letters import LetterDocument, LetterKind, document_of, letter_lines, render_html, render_pdf
from domain.label_messages import ApplicationSubmitted, Decision, JointReview, LetterSent, ReceiptAcknowledged
from domain.rules import RULESET_2023 as R
from test_label_application import _has, ev, eventually, start, worker  # noqa: F401 (fixtures)


def _pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-1.4")
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    return "\n".join(page.extract_text() for page in reader.pages)


def _letter(kind: LetterKind, **fields) -> LetterDocument:
    return LetterDocument(letter_key=f"label-S-1:{kind.value}:1", kind=kind, structure_id="S-1",
                          case_id="label-S-1", territory="ARTOIS", decided_on=date(2025, 6, 30), **fields)


def test_refusal_letter_states_decision_reasons_moratorium_and_both_appeal_routes():
    letter = _letter(LetterKind.REFUSAL, reasons=["2 référents sur 5 sans le module Secret professionnel"],
                     dates={"moratorium_floor": date(2026, 1, 1)})
    html = render_html(letter)
    assert html.startswith("<!DOCTYPE html>") and 'lang="fr"' in html
    for needle in ("S-1", "label-S-1", "ARTOIS", "30/06/2025", "refuse le label", "moratoire de 6 mois",
                   "Secret professionnel", "01/01/2026", "recours gracieux", "Président du Conseil départemental",
                   "tribunal administratif de Lille", "deux mois", "silence valant rejet"):
        assert needle in html, needle
    text = _pdf_text(render_pdf(letter))
    assert "tribunal administratif de Lille" in text and "Secret professionnel" in text and "30/06/2025" in text


def test_each_decision_has_its_letter_and_only_decisions_against_the_structure_state_appeal_routes():
    for kind in LetterKind:
        letter = _letter(kind, reasons=["motif"], dates={"valid_until": date(2030, 6, 29)})
        text = "\n".join(letter_lines(letter))
        assert "S-1" in text and "30/06/2025" in text and "29/06/2030" in text
        assert ("Voies et délais de recours" in text) == (kind in {
            LetterKind.REFUSAL, LetterKind.FINAL_REFUSAL, LetterKind.WITHDRAWAL, LetterKind.RENEWAL_REFUSAL})
        assert _pdf_text(render_pdf(letter))
    assert "retire le label" in "\n".join(letter_lines(_letter(LetterKind.WITHDRAWAL)))
    assert "tombe de plein droit" in "\n".join(letter_lines(_letter(LetterKind.LAPSE)))


def test_long_letters_paginate_and_escape_pdf_syntax():
    letter = _letter(LetterKind.FINAL_REFUSAL, reasons=[f"motif (n° {i}) \\ à revoir" for i in range(120)])
    data = render_pdf(letter)
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) >= 3
    assert "motif (n° 119) \\ à revoir" in _pdf_text(data)


async def _refused(app) -> str:
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(6.0, training_ok=False)
    await app.update(A.RECORD_JOINT_REVIEW, JointReview(event_id=ev(), training_ok=False, cer_average=6.5))
    assert await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["CER < 80 %"])) \
        is LabelStage.MORATORIUM
    return (await app.state()).refusals[-1].letter_key


async def test_refusal_letter_is_stored_with_a_posting_task_and_a_missing_receipt_is_reminded(start):
    app = await start()
    key = await _refused(app)
    await eventually(lambda: _has(app, LETTER_TO_SEND))
    row = await app.pool.fetchrow("SELECT * FROM label_letters WHERE letter_key=$1", key)
    assert row["kind"] == "refusal" and row["territory"] == "ARTOIS"
    assert "CER < 80" not in str(dict(row))  # the reasons are free text: never in clear in the read model
    letter = await app.handle.query(LETTER_QUERY, key, result_type=RegisteredLetter)
    assert letter.reasons == ["CER < 80 %"]
    assert "CER &lt; 80 %" in render_html(document_of(letter))
    assert "CER < 80 %" in _pdf_text(render_pdf(document_of(letter)))
    assert await app.handle.query(LETTER_QUERY, "unknown", result_type=RegisteredLetter) is None

    decided = (await app.state()).refusals[-1].decided_on
    not_posted = L.receipt_reminder_day(decided, R)
    await app.sleep_until(deadline_instant(not_posted - timedelta(days=1)) + timedelta(hours=1))
    await eventually(lambda: _has(app, "label_letter_not_posted"))  # nobody recorded the posting
    assert not await _has(app, "label_letter_receipt_missing")

    today = await app.today()
    kind, message = await app.refused(A.RECORD_LETTER_SENT, LetterSent(
        event_id=ev(), letter_key="other", registered_number="1A 123 456 7890 1", sent_on=today))
    assert kind == "InvalidCommand" and "other" in message
    await app.update(A.RECORD_LETTER_SENT, LetterSent(event_id=ev(), letter_key=key,
                                                      registered_number="1A 123 456 7890 1", sent_on=today))
    await eventually(lambda: app.pool.fetchval(
        "SELECT registered_letter_number = '1A 123 456 7890 1' AND sent_on IS NOT NULL FROM label_letters "
        "WHERE letter_key=$1", key))
    assert await app.pool.fetchval("SELECT status FROM human_tasks WHERE task_key = $1",
                                   f"{key}:{LETTER_TO_SEND}") == "DONE"  # the letter's one sending task
    reminder = L.receipt_reminder_day(today, R)
    assert reminder == today + timedelta(days=15)
    await app.sleep_until(deadline_instant(reminder - timedelta(days=1)) - timedelta(hours=2))
    assert not await _has(app, "label_letter_receipt_missing")
    await app.env.sleep(timedelta(hours=3))
    await eventually(lambda: _has(app, "label_letter_receipt_missing"))
    state = await app.state()
    assert state.stage is LabelStage.MORATORIUM and state.moratorium is None  # no clock without the receipt

    received = await app.today()
    kind, _ = await app.refused(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(
        event_id=ev(), letter_key=key, received_on=today - timedelta(days=1)))
    assert kind == "InvalidCommand"  # before the posting
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(event_id=ev(), letter_key=key, received_on=received))
    state = await app.state()
    assert state.moratorium.earliest_reapplication == L.earliest_reapplication(
        received, L.campaign_year(state.first_filed_on), R)
    assert state.refusals[-1].appeal.gracieux_deadline == L.appeal_deadline(received, R)
    await eventually(lambda: app.pool.fetchval(
        "SELECT acknowledged_on = $2 FROM label_letters WHERE letter_key=$1", key, received))


async def test_grant_produces_the_grant_letter(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(9.0)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    decided = (await app.state()).decisions[-1].decided_on
    key = f"{app.handle.id}:grant:{decided.isoformat()}"
    await eventually(lambda: app.pool.fetchval("SELECT kind FROM label_letters WHERE letter_key=$1", key))
    html = render_html(document_of(await app.handle.query(LETTER_QUERY, key, result_type=RegisteredLetter)))
    valid_until = L.day_start(L.label_expires_on(decided, R))
    assert "label Référent 62" in html and valid_until.strftime("%d/%m/%Y") in html
    assert "Voies et délais" not in html
