"""The four scenarios of seed 002 Task 1, their weights, endpoints and payloads.

The seed gives each scenario's name, weight and endpoint (`POST /api/ai/analyze` with
`contractPayload`, ...) but not the payloads' content; these are ours (docs/loadtest.md):
Romanian legal work, as the four skills of story 2.12 do it (contract analysis, document
drafting from a template with {{VARIABLE}} substitution, legal research, compliance
check). Each scenario rotates through a few different documents so a result cache in
the service does not answer the whole test from memory.

Scenarios are chosen by a smooth weighted round robin, not at random: every window of
10 requests holds 4 analyses, 3 drafts, 2 research questions and 1 compliance check, so
a short run exercises every scenario in the seed's proportions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Scenario:
    name: str            # the name in Locust's statistics and in the summary
    title: str           # the seed's name
    weight: int
    path: str
    payloads: tuple[dict, ...]


_CONTRACT_1 = (
    "CONTRACT DE PRESTĂRI SERVICII nr. 118/2025. Art. 1 Părțile: SC Alfa Consult SRL, "
    "CUI RO12345678, în calitate de prestator, și SC Beta Logistic SA, în calitate de "
    "beneficiar. Art. 4 Prețul: 24.000 lei plus TVA, plătibil în 30 de zile de la emiterea "
    "facturii; întârzierea atrage penalități de 0,5 % pe zi, fără a depăși valoarea "
    "debitului. Art. 7 Confidențialitate: pe durata contractului și 5 ani după încetare. "
    "Art. 9 Încetare: prin reziliere unilaterală cu notificare de 15 zile; pactul comisoriu "
    "operează de drept, fără punere în întârziere. Art. 11 Forța majoră, conform art. 1351 "
    "Cod civil. Art. 12 Litigiile se soluționează de instanțele de la sediul prestatorului.")
_CONTRACT_2 = (
    "CONTRACT DE ÎNCHIRIERE. Locatorul, Ionescu Maria, închiriază locatarului, SC Gamma "
    "Retail SRL, spațiul comercial din București, str. Lipscani nr. 12, suprafață 84 mp, pe "
    "o durată de 3 ani. Chiria: 1.500 EUR lunar, indexată anual cu rata inflației; garanție "
    "de 2 chirii. Locatarul nu poate subînchiria fără acordul scris al locatorului. Orice "
    "modificare a destinației spațiului atrage rezilierea de plin drept. Contractul "
    "constituie titlu executoriu potrivit art. 1798 Cod civil.")
_CONTRACT_3 = (
    "ACORD DE CONFIDENȚIALITATE între SC Delta Software SRL și SC Epsilon Bank SA privind "
    "informațiile schimbate în vederea unui proiect de integrare. Durata obligației: 3 ani. "
    "Excepții: informații publice sau obținute legal de la terți. Daune-interese "
    "predeterminate: 50.000 EUR pentru fiecare încălcare. Legea aplicabilă: legea română.")

SCENARIOS = (
    Scenario("contract_analysis", "Contract Analysis with Skills", 40, "/api/ai/analyze", tuple(
        {"documentType": "contract", "language": "ro", "text": text,
         "analysis": ["key_clauses", "risks", "obligations", "deadlines"], "useSkills": True}
        for text in (_CONTRACT_1, _CONTRACT_2, _CONTRACT_3))),
    Scenario("document_drafting", "Document Drafting with Skills", 30, "/api/ai/draft", (
        {"templateId": "notificare-reziliere-contract", "language": "ro", "useSkills": True,
         "variables": {"EXPEDITOR": "SC Alfa Consult SRL", "DESTINATAR": "SC Beta Logistic SA",
                       "NUMAR_CONTRACT": "118/2025", "DATA_CONTRACT": "3 martie 2025",
                       "MOTIV": "neplata facturilor scadente în termen de 30 de zile",
                       "TERMEN_PREAVIZ": "15 zile"}},
        {"templateId": "cerere-chemare-in-judecata", "language": "ro", "useSkills": True,
         "variables": {"INSTANTA": "Judecătoria Sectorului 1 București",
                       "RECLAMANT": "Ionescu Maria", "PARAT": "SC Gamma Retail SRL",
                       "OBIECT": "pretenții, chirie restantă 4.500 EUR",
                       "TEMEI_DE_DREPT": "art. 1777 și urm. Cod civil"}},
        {"templateId": "procura-speciala", "language": "ro", "useSkills": True,
         "variables": {"MANDANT": "Popescu Andrei", "MANDATAR": "av. Georgescu Elena",
                       "ACT": "vânzarea apartamentului din Cluj-Napoca, str. Horea nr. 5"}},
    )),
    Scenario("legal_research", "Legal Research with Skills", 20, "/api/ai/research", tuple(
        {"query": q, "jurisdiction": "RO", "sources": ["legislation", "case_law"],
         "maxResults": 10, "useSkills": True}
        for q in ("Termenul de prescripție al acțiunii în răspundere contractuală "
                  "(art. 2517 Cod civil) și momentul de la care curge",
                  "Condițiile pactului comisoriu de gradul IV în jurisprudența ÎCCJ",
                  "Clauze abuzive în contractele de credit: practica CJUE aplicată în România"))),
    Scenario("compliance_check", "Compliance Check with Skills", 10, "/api/ai/compliance", (
        {"framework": "GDPR", "documentType": "privacy_policy", "language": "ro",
         "useSkills": True,
         "text": "Colectăm numele, e-mailul și istoricul comenzilor pentru livrare și "
                 "marketing; datele se păstrează nelimitat și pot fi transferate partenerilor "
                 "din afara UE."},
        {"framework": "AML", "documentType": "client_onboarding", "language": "ro",
         "useSkills": True,
         "text": "Client persoană juridică nou, asociat unic nerezident, plăți estimate de "
                 "200.000 EUR lunar din jurisdicții cu risc ridicat; beneficiarul real nu "
                 "este declarat (Legea 129/2019)."},
    )),
)


def weighted_order(scenarios=SCENARIOS) -> Iterator[Scenario]:
    """Endless: each scenario as often as its weight, spread evenly (nginx's smooth
    weighted round robin). Deterministic, so short runs keep the seed's proportions."""
    total = sum(s.weight for s in scenarios)
    current = [0] * len(scenarios)
    while True:
        for i, s in enumerate(scenarios):
            current[i] += s.weight
        best = max(range(len(scenarios)), key=lambda i: current[i])
        current[best] -= total
        yield scenarios[best]
