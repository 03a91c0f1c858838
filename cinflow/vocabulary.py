"""Closed vocabularies shared by events, policies and the census.

Values are plain strings so that records stay small and compare fast; the
converter checks every incoming value against these sets.
"""

from typing import Literal

Role = Literal[
    "social_worker",
    "senior_practitioner",
    "practice_lead",
    "team_manager",
    "assistant_team_manager",
    "service_manager",
    "assistant_director",
    "iro",
    "lead_professional",
    "senior_practice_lead",
    "senior_manager",
    "agency_professional",
]
ROLES: tuple[str, ...] = Role.__args__

MeetingKind = Literal["initial", "review"]
MeetingOutcome = Literal["continue", "reassess", "escalate", "step_down", "close"]
MEETING_OUTCOMES: tuple[str, ...] = MeetingOutcome.__args__
# Outcomes after which the plan stays in force (and reviews stay due).
CONTINUING_OUTCOMES = ("continue", "reassess", "escalate")
# Outcomes that end the plan by decision of the meeting.
ENDING_OUTCOMES = ("step_down", "close")
AssessmentOutcome = Literal["cin_plan", "no_further_action", "early_help", "s47"]
S47Outcome = Literal["icpc", "cin_plan", "no_further_action"]
ConferenceOutcome = Literal["cin_plan", "no_further_action"]
CpEndOutcome = Literal["cin_plan", "closed"]

# CIN census: primary need codes and reasons for closure.
NeedCode = Literal["N0", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"]
ClosureReason = Literal["RC1", "RC2", "RC3", "RC4", "RC5", "RC6", "RC7", "RC8", "RC9"]
CLOSURE_REASONS: tuple[str, ...] = ClosureReason.__args__
# Endings that record something that happened to the child (adoption, death, a
# court order, a transfer), not a decision that the child no longer needs help.
CLOSURES_BY_CIRCUMSTANCE = ("RC1", "RC2", "RC3", "RC4", "RC5", "RC6")

Sex = Literal["M", "F", "U"]

# CIN census code lists (DfE CIN census specification; the validator's rule
# lists agree).  Events and children are checked against them at the edge.
ReferralSource = Literal["1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B", "3C", "3D", "3E", "3F", "4", "5A", "5B",
                         "5C", "5D", "6", "7", "8", "9", "10"]
Ethnicity = Literal["WBRI", "WIRI", "WIRT", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN", "ABAN",
                    "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT"]
DisabilityCode = Literal["MOB", "HAND", "PC", "INC", "COMM", "LD", "HEAR", "VIS", "BEH", "CON", "AUT", "DDA"]
AssessmentFactor = Literal["1A", "1B", "1C", "2A", "2B", "2C", "3A", "3B", "3C", "4A", "4B", "4C", "5A", "5B", "5C",
                           "6A", "6B", "6C", "7A", "8B", "8C", "8D", "8E", "8F", "9A", "10A", "11A", "12A", "13A",
                           "14A", "15A", "16A", "17A", "18B", "18C", "19B", "19C", "20", "21", "22A", "23A", "24A"]
AbuseCategory = Literal["NEG", "PHY", "SAB", "EMO", "MUL"]
UpnUnknown = Literal["UN1", "UN2", "UN3", "UN4", "UN5", "UN6", "UN7"]

ROLE_LABELS = {
    "social_worker": "a Social Worker",
    "senior_practitioner": "a Senior Practitioner",
    "practice_lead": "a Practice Lead",
    "team_manager": "a Team Manager",
    "assistant_team_manager": "an Assistant Team Manager",
    "service_manager": "a Service Manager",
    "assistant_director": "an Assistant Director",
    "iro": "an Independent Reviewing Officer",
    "lead_professional": "the Lead Professional",
    "senior_practice_lead": "a Senior Practice Lead",
    "senior_manager": "another senior manager",
    "agency_professional": "a professional from a partner agency",
}

OUTCOME_LABELS = {
    "continue": "the plan continues (services go on, the plan may be amended)",
    "reassess": "the plan continues and the assessment is updated",
    "escalate": "significant harm is suspected: strategy discussion and possible s47 enquiry",
    "step_down": "the child steps down from statutory CIN work to early help or targeted services",
    "close": "the child is no longer in need of social work services; the case closes",
}


def roles_in_words(roles) -> str:
    labels = [ROLE_LABELS.get(r, r) for r in roles]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
