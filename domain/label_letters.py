"""The letters of the Label référent RSA: every notified decision as a French document (HTML and PDF).

A letter names the structure and the case, states the decision, its reasons ("motivé en fait et en
droit" [001:300]), the dates computed by the case (validity, moratorium, observation period, end of the
SLAI support) and, for every decision against the structure, the appeal routes: recours gracieux to the
Président du Conseil départemental within 2 months of receipt (answer within 2 months, silence =
rejection, G-L19) and recours contentieux at the tribunal administratif de Lille within 2 months [001:324-334].
Pure. The letter's content (reasons are free text) lives in the encrypted case state; the API renders the
document on demand (``GET /v1/label-letters/{key}``), so no letter text is stored in clear.
"""

from __future__ import annotations

import html
from datetime import date
from enum import Enum

from pydantic import BaseModel, ConfigDict

from domain.label_contract import LetterDates, RegisteredLetter
from domain.pdf import text_pdf

ISSUER = "Département du Pas-de-Calais — Direction des politiques d'inclusion durable (DPID)"


class LetterKind(str, Enum):
    GRANT = "grant"
    REFUSAL = "refusal"  # first refusal: 6-month moratorium (L6)
    FINAL_REFUSAL = "final_refusal"  # L9
    WITHDRAWAL_NOTICE = "withdrawal_notice"  # W2 prior notice, observations (G-L18)
    WITHDRAWAL = "withdrawal"  # W2 decision, or W3 quality still not assured
    LAPSE = "lapse"  # W1
    REMEDIATION = "remediation"  # W3: procedure re-triggered, 6 months of SLAI support
    RENEWAL_GRANT = "renewal_grant"
    RENEWAL_REFUSAL = "renewal_refusal"
    GRACIEUX_GRANTED = "gracieux_granted"
    GRACIEUX_REJECTED = "gracieux_rejected"


_SUBJECT = {
    LetterKind.GRANT: "Octroi du label Référent 62 (Label référent RSA)",
    LetterKind.REFUSAL: "Refus du label référent RSA — moratoire de 6 mois",
    LetterKind.FINAL_REFUSAL: "Refus du label référent RSA",
    LetterKind.WITHDRAWAL_NOTICE: "Engagement d'une procédure de retrait du label référent RSA",
    LetterKind.WITHDRAWAL: "Retrait du label référent RSA",
    LetterKind.LAPSE: "Fin de plein droit du label référent RSA",
    LetterKind.REMEDIATION: "Réenclenchement de la procédure de labellisation — accompagnement du SLAI",
    LetterKind.RENEWAL_GRANT: "Renouvellement du label référent RSA",
    LetterKind.RENEWAL_REFUSAL: "Refus de renouvellement du label référent RSA",
    LetterKind.GRACIEUX_GRANTED: "Réponse à votre recours gracieux — label délivré",
    LetterKind.GRACIEUX_REJECTED: "Réponse à votre recours gracieux — rejet",
}

#: Decisions against the structure: the letter states both appeal routes.
APPEALABLE = frozenset({LetterKind.REFUSAL, LetterKind.FINAL_REFUSAL, LetterKind.WITHDRAWAL,
                        LetterKind.RENEWAL_REFUSAL})

_DATE_LABELS = {
    "valid_until": "Label valable jusqu'au (inclus)",
    "renewal_window_first": "Demande de renouvellement possible à partir du",
    "renewal_window_last": "Demande de renouvellement possible jusqu'au",
    "moratorium_floor": "Nouvelle demande possible au plus tôt le",
    "observation_deadline": "Observations écrites à adresser au plus tard le",
    "support_until": "Accompagnement du SLAI jusqu'au",
    "effective_on": "Date d'effet",
    "contentieux_deadline": "Recours contentieux possible jusqu'au",
}


class LetterDocument(BaseModel):
    """What a letter says."""

    model_config = ConfigDict(frozen=True)

    letter_key: str
    kind: LetterKind
    structure_id: str
    case_id: str
    territory: str | None = None
    decided_on: date
    reasons: list[str] = []
    dates: LetterDates = LetterDates()


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _decision(letter: LetterDocument) -> list[str]:
    day = _fr(letter.decided_on)
    k = LetterKind
    return {
        k.GRANT: [f"Par décision du {day}, le Département octroie à votre structure le label Référent 62 "
                  "(Label référent RSA) pour une durée de 5 ans. Le label sera remis officiellement lors de la "
                  "cérémonie annuelle de votre territoire."],
        k.REFUSAL: [f"Par décision du {day}, le Département refuse le label référent RSA à votre structure.",
                    "Un moratoire de 6 mois à compter de la réception de la présente lettre est imposé à la "
                    "structure. Pendant cette période, le SLAI vous accompagne (qualité des CER ou "
                    "positionnement sur les formations) ; une rencontre structure, SLAI et siège fixera les "
                    "objectifs et les moyens (fiche de suivi, Annexe 4). A l'issue des 6 mois, la structure "
                    "pourra déposer une nouvelle demande."],
        k.FINAL_REFUSAL: [f"Par décision du {day}, le Département refuse le label référent RSA à votre structure. "
                          "La structure ne peut plus être financée pour une mission d'accompagnement RSA ; elle "
                          "pourra solliciter une nouvelle demande de label une fois les critères réunis."],
        k.WITHDRAWAL_NOTICE: [f"Le {day}, le Département vous informe de son intention de retirer le label "
                              "référent RSA de votre structure, les engagements n'étant pas respectés. Vous "
                              "pouvez présenter vos observations écrites avant toute décision."],
        k.WITHDRAWAL: [f"Par décision du {day}, le Département retire le label référent RSA de votre structure."],
        k.LAPSE: [f"Votre structure ayant mis fin à sa mission d'accompagnement du public RSA, la labellisation "
                  f"tombe de plein droit à compter du {day}."],
        k.REMEDIATION: [f"Le {day}, la qualité des CER n'étant plus assurée, la procédure de labellisation est "
                        "réenclenchée : le SLAI accompagne votre structure pendant 6 mois, puis une nouvelle "
                        "étude sera réalisée. Si la qualité n'est toujours pas assurée, le label sera retiré."],
        k.RENEWAL_GRANT: [f"Par décision du {day}, le Département renouvelle le label référent RSA de votre "
                          "structure pour une durée de 5 ans."],
        k.RENEWAL_REFUSAL: [f"Par décision du {day}, le Département refuse le renouvellement du label référent "
                            "RSA de votre structure."],
        k.GRACIEUX_GRANTED: [f"Par décision du {day}, faisant suite à votre recours gracieux, les critères étant "
                             "réunis, le label référent RSA est délivré à votre structure."],
        k.GRACIEUX_REJECTED: [f"Par décision du {day}, votre recours gracieux est rejeté. Vous pouvez former un "
                              "recours contentieux devant le tribunal administratif de Lille dans un délai de "
                              "deux mois à compter de la réception de la présente lettre."],
    }[letter.kind]


def _appeal_routes() -> list[str]:
    return [
        "Voies et délais de recours :",
        "- recours gracieux auprès du Président du Conseil départemental, dans un délai de deux mois à compter "
        "de la réception de la présente lettre, accompagné des actions d'amélioration et des justificatifs "
        "(attestations de formation, grille d'évaluation des CER) ; le Département y répond dans un délai de "
        "deux mois, son silence valant rejet ;",
        "- recours contentieux devant le tribunal administratif de Lille, dans un délai de deux mois à compter "
        "de la réception de la présente lettre ou du rejet du recours gracieux.",
        "Les délais qui expirent un samedi, un dimanche ou un jour férié sont prorogés au premier jour ouvrable "
        "suivant.",
    ]


def letter_lines(letter: LetterDocument) -> list[str]:
    """The letter as paragraphs of plain text (the PDF's content; the HTML adds structure)."""
    lines = [ISSUER, "Lettre recommandée avec accusé de réception", "",
             f"Structure : {letter.structure_id}" + (f" — territoire {letter.territory}" if letter.territory else ""),
             f"Dossier : {letter.case_id}", f"Référence : {letter.letter_key}", "",
             f"Objet : {_SUBJECT[letter.kind]}", "", "Madame, Monsieur,", ""]
    lines += _decision(letter)
    if letter.reasons:
        lines += ["", "Motifs :"] + [f"- {reason}" for reason in letter.reasons]
    dates = sorted(letter.dates.items(), key=lambda item: item[1])
    if dates:
        lines += ["", "Dates :"] + [f"- {_DATE_LABELS[key]} : {_fr(day)}" for key, day in dates]
    if letter.kind in APPEALABLE:
        lines += [""] + _appeal_routes()
    lines += ["", "Le Président du Conseil départemental, par délégation."]
    return lines


def document_of(letter: RegisteredLetter) -> LetterDocument:
    """The document of a letter the case recorded."""
    return LetterDocument(letter_key=letter.letter_key, kind=LetterKind(letter.kind), structure_id=letter.structure_id,
                          case_id=letter.workflow_id, territory=letter.territory, decided_on=letter.decided_on,
                          reasons=letter.reasons, dates=letter.dates)


def render_html(letter: LetterDocument) -> str:
    paragraphs = []
    for line in letter_lines(letter):
        if not line:
            continue
        tag = "li" if line.startswith("- ") else "p"
        paragraphs.append(f"<{tag}>{html.escape(line[2:] if tag == 'li' else line)}</{tag}>")
    return ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(_SUBJECT[letter.kind])}</title></head><body>\n"
            + "\n".join(paragraphs) + "\n</body></html>\n")


def render_pdf(letter: LetterDocument) -> bytes:
    return text_pdf(letter_lines(letter), title=_SUBJECT[letter.kind])
