"""The texts of notifications and e-mails, in Swedish and English.

``TEMPLATES[kind][language]`` holds a subject and a plain-text body with ``$name`` placeholders
(``string.Template``). ``render`` fills them in: a placeholder without a value is an error, never a
silent blank, and a language without texts falls back to English. Every kind has both languages with
the same placeholders (a unit test holds that).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

FALLBACK_LANGUAGE = "en"


class MissingParameter(KeyError):
    """A template was rendered without a value for one of its placeholders."""


@dataclass(frozen=True)
class Template:
    subject: str
    text: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(string.Template(self.subject).get_identifiers()) | frozenset(string.Template(self.text).get_identifiers())


def _en(subject: str, body: str) -> Template:
    return Template(subject, f"Hello $recipient_name,\n\n{body}\n\nBest regards,\nCustomersonly\n")


def _sv(subject: str, body: str) -> Template:
    return Template(subject, f"Hej $recipient_name,\n\n{body}\n\nVänliga hälsningar\nCustomersonly\n")


_CHANGE_EN = "Last day: $previous_end_date → $new_end_date\nExtent: $extent\nRate: $rate\n"
_CHANGE_SV = "Sista dag: $previous_end_date → $new_end_date\nOmfattning: $extent\nPris: $rate\n"

_DISCLOSURE_TERMS_EN = """Assignment: $assignment_title
Client: $client_name
Summary: $assignment_summary
Period: $start_date to $end_date
Extent: $extent
Rate: $rate
Commission: $commission
To the agency: $agency_net"""

_DISCLOSURE_TERMS_SV = """Uppdrag: $assignment_title
Kund: $client_name
Sammanfattning: $assignment_summary
Period: $start_date till $end_date
Omfattning: $extent
Timpris: $rate
Provision: $commission
Till konsultbolaget: $agency_net"""

TEMPLATES: dict[str, dict[str, Template]] = {
    "disclosure_consent_requested": {
        "en": _en(
            "Your consent, please: $assignment_title at $client_name",
            "We would like to present the consultant's profile to $client_name for the assignment below. "
            "We share it only when both the consultant and the agency have consented.\n\n"
            f"{_DISCLOSURE_TERMS_EN}\n\n"
            "Please consent or decline by $expires_at: $link",
        ),
        "sv": _sv(
            "Ditt samtycke behövs: $assignment_title hos $client_name",
            "Vi vill presentera konsultens profil för $client_name för uppdraget nedan. "
            "Vi delar den först när både konsulten och konsultbolaget har samtyckt.\n\n"
            f"{_DISCLOSURE_TERMS_SV}\n\n"
            "Samtyck eller avböj senast $expires_at: $link",
        ),
    },
    "disclosure_rate_changed": {
        "en": _en(
            "New rate, your consent again: $assignment_title at $client_name",
            'The rate for the assignment "$assignment_title" at $client_name has changed. Consents given for the '
            "previous rate no longer apply, so we need your consent again before the profile is shared.\n\n"
            f"{_DISCLOSURE_TERMS_EN}\n\n"
            "Please consent or decline by $expires_at: $link",
        ),
        "sv": _sv(
            "Nytt timpris, samtyck igen: $assignment_title hos $client_name",
            "Timpriset för uppdraget ”$assignment_title” hos $client_name har ändrats. Samtycken till det tidigare "
            "priset gäller inte längre, så vi behöver ditt samtycke igen innan profilen delas.\n\n"
            f"{_DISCLOSURE_TERMS_SV}\n\n"
            "Samtyck eller avböj senast $expires_at: $link",
        ),
    },
    "disclosure_request_expired": {
        "en": _en(
            "Consent request expired: $assignment_title",
            'The request to share a profile with $client_name for the assignment "$assignment_title" expired before '
            "everyone had consented, so nothing was shared. You need not do anything.",
        ),
        "sv": _sv(
            "Förfrågan om samtycke har gått ut: $assignment_title",
            "Förfrågan om att dela en profil med $client_name för uppdraget ”$assignment_title” gick ut innan alla "
            "hade samtyckt, så ingenting har delats. Du behöver inte göra något.",
        ),
    },
    "proposal_received": {
        "en": _en(
            "New candidates for $assignment_title",
            'We have proposed candidates for your assignment "$assignment_title".\n\n'
            "Number of candidates: $candidate_count\n"
            "See the proposal: $link",
        ),
        "sv": _sv(
            "Nya kandidater till $assignment_title",
            "Vi har föreslagit kandidater till ert uppdrag ”$assignment_title”.\n\nAntal kandidater: $candidate_count\nSe förslaget: $link",
        ),
    },
    "candidate_withdrawn": {
        "en": _en(
            "A candidate was withdrawn: $assignment_title",
            '$candidate_name is no longer available for your assignment "$assignment_title" and has been withdrawn '
            "from the proposal.\n\nSee the proposal: $link",
        ),
        "sv": _sv(
            "En kandidat har dragits tillbaka: $assignment_title",
            "$candidate_name är inte längre tillgänglig för ert uppdrag ”$assignment_title” och har dragits tillbaka "
            "från förslaget.\n\nSe förslaget: $link",
        ),
    },
    "candidate_declined": {
        "en": _en(
            "Not selected: $assignment_title",
            'The client has decided not to go further with the candidate for the assignment "$assignment_title".\n\n'
            "The client's reason: $reason\n\nDetails: $link\n\nThank you for your interest.",
        ),
        "sv": _sv(
            "Inte vald: $assignment_title",
            "Kunden har valt att inte gå vidare med kandidaten för uppdraget ”$assignment_title”.\n\n"
            "Kundens motivering: $reason\n\nMer information: $link\n\nTack för intresset.",
        ),
    },
    "candidate_accepted": {
        "en": _en(
            "Selected: $assignment_title at $client_name",
            'Good news: $client_name has chosen the candidate for the assignment "$assignment_title".\n\nNext steps: $link',
        ),
        "sv": _sv(
            "Vald: $assignment_title hos $client_name",
            "Goda nyheter: $client_name har valt kandidaten för uppdraget ”$assignment_title”.\n\nNästa steg: $link",
        ),
    },
    "interview_requested": {
        "en": _en(
            "Interview request: $assignment_title at $client_name",
            '$client_name would like to interview the candidate for the assignment "$assignment_title". '
            "Proposed times:\n\n$slots\n\nPlease choose a time: $link",
        ),
        "sv": _sv(
            "Förfrågan om intervju: $assignment_title hos $client_name",
            "$client_name vill intervjua kandidaten för uppdraget ”$assignment_title”. Föreslagna tider:\n\n$slots\n\nVälj en tid: $link",
        ),
    },
    "interview_scheduled": {
        "en": _en(
            "Interview booked: $assignment_title, $starts_at",
            'The interview for the assignment "$assignment_title" is booked.\n\n'
            "When: $starts_at to $ends_at\nWhere: $location\n\nDetails: $link",
        ),
        "sv": _sv(
            "Intervju bokad: $assignment_title, $starts_at",
            "Intervjun för uppdraget ”$assignment_title” är bokad.\n\n"
            "När: $starts_at till $ends_at\nVar: $location\n\nMer information: $link",
        ),
    },
    "interview_rescheduled": {
        "en": _en(
            "Interview moved: $assignment_title, now $starts_at",
            'The interview for the assignment "$assignment_title" has been moved to a new time.\n\n'
            "New time: $starts_at to $ends_at\nWhere: $location\n\nDetails: $link",
        ),
        "sv": _sv(
            "Intervjun är flyttad: $assignment_title, nu $starts_at",
            "Intervjun för uppdraget ”$assignment_title” har flyttats till en ny tid.\n\n"
            "Ny tid: $starts_at till $ends_at\nVar: $location\n\nMer information: $link",
        ),
    },
    "interview_cancelled": {
        "en": _en(
            "Interview cancelled: $assignment_title, $starts_at",
            'The interview for the assignment "$assignment_title" on $starts_at has been cancelled.\n\nReason: $reason',
        ),
        "sv": _sv(
            "Intervjun är inställd: $assignment_title, $starts_at",
            "Intervjun för uppdraget ”$assignment_title” den $starts_at är inställd.\n\nAnledning: $reason",
        ),
    },
    "consultant_agent_assigned": {
        "en": _en(
            "$agent_name is now the agent for $consultant_name",
            "$agent_name is now the agent for $consultant_name at Customersonly: the person to turn to about "
            "assignments, proposals and interviews.",
        ),
        "sv": _sv(
            "$agent_name är nu agent för $consultant_name",
            "$agent_name är nu agent för $consultant_name på Customersonly och den att vända sig till om uppdrag, förslag och intervjuer.",
        ),
    },
}


# Account mails. Their English texts are what the platform always sent: tests (and people) read the codes
# after "verification code: " and "invitation code: ". An invitee has no account yet, so no name.
_INVITATION_END_EN = "\n\nRegister here: $link\nOr use the invitation code: $code\n\nThe invitation expires on $expires_on.\n"
_INVITATION_END_SV = "\n\nRegistrera dig här: $link\nEller använd inbjudningskoden: $code\n\nInbjudan går ut den $expires_on.\n"
TEMPLATES |= {
    "email_verification": {
        "en": Template(
            "Confirm your e-mail address",
            "Welcome to Customersonly, $recipient_name.\n\nConfirm your e-mail address to activate your account: $link\n"
            "Or enter the verification code: $code\n\nIf you did not register, ignore this message.\n",
        ),
        "sv": Template(
            "Bekräfta din e-postadress",
            "Välkommen till Customersonly, $recipient_name.\n\nBekräfta din e-postadress för att aktivera ditt konto: $link\n"
            "Eller ange verifieringskoden: $code\n\nOm du inte har registrerat dig kan du bortse från det här meddelandet.\n",
        ),
    },
    "consultant_invitation": {
        "en": Template(
            "$agency_name invites you to Customersonly",
            "$agency_name invites you to join Customersonly as one of its consultants." + _INVITATION_END_EN,
        ),
        "sv": Template(
            "$agency_name bjuder in dig till Customersonly",
            "$agency_name bjuder in dig att gå med i Customersonly som en av dess konsulter." + _INVITATION_END_SV,
        ),
    },
    "consultant_invitation_on_behalf": {
        "en": Template(
            "Confirm that $agency_name may represent you on Customersonly",
            "$agency_name uploaded your written consent to represent you as a consultant on Customersonly, and our staff "
            "verified it. Register (or sign in) and confirm it to activate your profile. Nothing is shared until you confirm."
            + _INVITATION_END_EN,
        ),
        "sv": Template(
            "Bekräfta att $agency_name får företräda dig på Customersonly",
            "$agency_name har laddat upp ditt skriftliga samtycke till att företräda dig som konsult på Customersonly, och vår "
            "personal har granskat det. Registrera dig (eller logga in) och bekräfta samtycket för att aktivera din profil. "
            "Ingenting delas förrän du har bekräftat." + _INVITATION_END_SV,
        ),
    },
    "signature_requested": {
        "en": _en(
            "Please sign: $document_name",
            "Customersonly asks you to sign $document_name electronically.\n\nOpen $link , sign in with your own "
            "account, read the document, type your name and confirm. The link is yours alone and works once; it "
            "expires on $expires_at. You may also decline there, saying why.",
        ),
        "sv": _sv(
            "Signera: $document_name",
            "Customersonly ber dig signera $document_name elektroniskt.\n\nÖppna $link , logga in med ditt eget konto, "
            "läs dokumentet, skriv ditt namn och bekräfta. Länken är bara din och fungerar en gång; den gäller till "
            "$expires_at. Där kan du också avböja och berätta varför.",
        ),
    },
    "engagement_active": {
        "en": _en(
            "Contracts signed: $assignment_title starts",
            "Both contracts for $assignment_title are signed, so the engagement is active.\n\nClient: $client_name\n"
            "Consultant: $consultant_name\nPeriod: $start_date to $end_date\nPrice: $price\n\nTime reporting is open. "
            "The engagement and the signed contracts (for their parties) are at $link",
        ),
        "sv": _sv(
            "Avtalen är signerade: $assignment_title startar",
            "Båda avtalen för $assignment_title är signerade och uppdraget är aktivt.\n\nKund: $client_name\n"
            "Konsult: $consultant_name\nPeriod: $start_date till $end_date\nPris: $price\n\nTidrapporteringen är öppen. "
            "Uppdraget och de signerade avtalen (för avtalens parter) finns på $link",
        ),
    },
    "engagement_cancelled": {
        "en": _en(
            "Engagement cancelled: $assignment_title",
            "The engagement for $assignment_title ($client_name, consultant $consultant_name) was cancelled before "
            "its contracts were signed.\nReason: $reason\n\nContracts still out for signature were withdrawn. $link",
        ),
        "sv": _sv(
            "Uppdraget avbröts: $assignment_title",
            "Uppdraget $assignment_title ($client_name, konsult $consultant_name) avbröts innan avtalen var "
            "signerade.\nOrsak: $reason\n\nAvtal som väntade på underskrift har dragits tillbaka. $link",
        ),
    },
    "engagement_change_proposed": {
        "en": _en(
            "A change to $assignment_title is proposed",
            "$proposer_name proposes to change the engagement $assignment_title ($client_name, consultant "
            "$consultant_name):\n\n" + _CHANGE_EN + "Why: $reason\n\nThe client, the agency and the consultant each agree "
            "or decline. Once all three agreed, an addendum to each contract is sent for signature; the change "
            "applies when both are signed.\n\nAnswer: $link",
        ),
        "sv": _sv(
            "En ändring av $assignment_title föreslås",
            "$proposer_name föreslår en ändring av uppdraget $assignment_title ($client_name, konsult "
            "$consultant_name):\n\n" + _CHANGE_SV + "Varför: $reason\n\nKunden, konsultbolaget och konsulten godkänner "
            "eller avböjer var för sig. När alla tre har godkänt skickas ett tilläggsavtal till varje avtal för "
            "underskrift; ändringen gäller när båda är signerade.\n\nSvara: $link",
        ),
    },
    "engagement_change_declined": {
        "en": _en(
            "The change to $assignment_title was declined",
            "The proposed change to the engagement $assignment_title ($client_name, consultant $consultant_name) "
            "was declined, and the current terms stay:\n\n" + _CHANGE_EN + "Reason: $reason\n\n$link",
        ),
        "sv": _sv(
            "Ändringen av $assignment_title avböjdes",
            "Den föreslagna ändringen av uppdraget $assignment_title ($client_name, konsult $consultant_name) "
            "avböjdes, och de nuvarande villkoren gäller:\n\n" + _CHANGE_SV + "Orsak: $reason\n\n$link",
        ),
    },
    "engagement_change_withdrawn": {
        "en": _en(
            "The change to $assignment_title was withdrawn",
            "The proposed change to the engagement $assignment_title ($client_name, consultant $consultant_name) "
            "was withdrawn, and the current terms stay:\n\n" + _CHANGE_EN + "Reason: $reason\n\nAddenda still out for "
            "signature were withdrawn. $link",
        ),
        "sv": _sv(
            "Ändringen av $assignment_title drogs tillbaka",
            "Den föreslagna ändringen av uppdraget $assignment_title ($client_name, konsult $consultant_name) "
            "drogs tillbaka, och de nuvarande villkoren gäller:\n\n" + _CHANGE_SV + "Orsak: $reason\n\nTilläggsavtal "
            "som väntade på underskrift har dragits tillbaka. $link",
        ),
    },
    "engagement_change_lapsed": {
        "en": _en(
            "The change to $assignment_title lapsed",
            "The engagement $assignment_title ($client_name, consultant $consultant_name) ended on its current "
            "terms before the proposed change was signed, so the change lapsed:\n\n" + _CHANGE_EN + "\n$link",
        ),
        "sv": _sv(
            "Ändringen av $assignment_title förföll",
            "Uppdraget $assignment_title ($client_name, konsult $consultant_name) avslutades på sina nuvarande "
            "villkor innan den föreslagna ändringen var signerad, så ändringen förföll:\n\n" + _CHANGE_SV + "\n$link",
        ),
    },
    "engagement_changed": {
        "en": _en(
            "The engagement $assignment_title is changed",
            "Both addenda are signed: the engagement $assignment_title ($client_name, consultant $consultant_name) "
            "now runs on the amended terms.\n\n" + _CHANGE_EN + "Time is reported to the new last day, and invoiced at "
            "the rate in force on each day. $link",
        ),
        "sv": _sv(
            "Uppdraget $assignment_title är ändrat",
            "Båda tilläggsavtalen är signerade: uppdraget $assignment_title ($client_name, konsult $consultant_name) "
            "löper nu på de ändrade villkoren.\n\n" + _CHANGE_SV + "Tid rapporteras till den nya sista dagen och "
            "faktureras med det pris som gäller varje dag. $link",
        ),
    },
    "engagement_ended": {
        "en": _en(
            "Engagement ended: review $assignment_title",
            "The engagement $assignment_title ($client_name, consultant $consultant_name) ended after its last "
            "day, $last_day.\n\nThe client and the consultant can now review each other: a rating from 1 to 5 "
            "and a few words. Each review stays hidden from the other side until both are in, or until "
            "$reviews_close_at, when reviewing closes and whatever is in is shown. You can edit yours "
            "until it is shown.\n\nWork up to the last day can still be reported and invoiced.\n\nReview: $link",
        ),
        "sv": _sv(
            "Uppdraget är avslutat: betygsätt $assignment_title",
            "Uppdraget $assignment_title ($client_name, konsult $consultant_name) avslutades efter sin sista "
            "dag, $last_day.\n\nKunden och konsulten kan nu betygsätta varandra: ett betyg från 1 till 5 och "
            "några ord. Varje omdöme döljs för den andra parten tills båda har lämnat sitt, eller till "
            "$reviews_close_at, då omdömena stänger och det som finns visas. Du kan ändra ditt tills "
            "det visas.\n\nArbete till och med den sista dagen kan fortfarande rapporteras och faktureras.\n\nBetygsätt: $link",
        ),
    },
    "review_revealed": {
        "en": _en(
            "A review of you is visible: $assignment_title",
            "The review $reviewer_name wrote after $assignment_title is visible to you now: $link",
        ),
        "sv": _sv(
            "Ett omdöme om dig är synligt: $assignment_title",
            "Omdömet som $reviewer_name skrev efter $assignment_title är synligt för dig nu: $link",
        ),
    },
    "review_hidden": {
        "en": _en(
            "Your review was hidden: $assignment_title",
            "Our staff hid the review written for your side after $assignment_title. It is no longer shown "
            "to anyone but you and our staff, and it does not count in any rating.\nReason: $reason\n\n"
            "If you think this is wrong, reply to us. $link",
        ),
        "sv": _sv(
            "Ditt omdöme har dolts: $assignment_title",
            "Vår personal har dolt omdömet som skrevs för er räkning efter $assignment_title. Det visas inte "
            "längre för någon utom dig och vår personal, och det räknas inte in i något betyg.\nOrsak: $reason\n\n"
            "Hör av dig om du tycker att det är fel. $link",
        ),
    },
    "period_submitted": {
        "en": _en(
            "Time to confirm: $consultant_name, $period",
            "$consultant_name submitted the time for $period on $assignment_title. Confirm it (the client is then "
            "invoiced) or return it with a comment: $link",
        ),
        "sv": _sv(
            "Tid att attestera: $consultant_name, $period",
            "$consultant_name har lämnat in tiden för $period i $assignment_title. Attestera den (kunden faktureras "
            "då) eller skicka tillbaka den med en kommentar: $link",
        ),
    },
    "period_confirmed": {
        "en": _en(
            "Your time for $period is confirmed",
            "Your agency confirmed the time for $period on $assignment_title. The client is invoiced $total (VAT included). $link",
        ),
        "sv": _sv(
            "Din tid för $period är attesterad",
            "Ditt konsultbolag har attesterat tiden för $period i $assignment_title. Kunden faktureras $total (inklusive moms). $link",
        ),
    },
    "period_returned": {
        "en": _en(
            "Your time for $period was returned",
            "Your agency returned the time for $period on $assignment_title, $consultant_name, to be corrected:\n\n"
            "$comment\n\nCorrect it and submit it again: $link",
        ),
        "sv": _sv(
            "Din tid för $period skickades tillbaka",
            "Ditt konsultbolag skickade tillbaka tiden för $period i $assignment_title, $consultant_name, för rättning:\n\n"
            "$comment\n\nRätta den och lämna in den igen: $link",
        ),
    },
    "evaluation_due_client": {
        "en": _en(
            "Time to evaluate $consultant_name: $assignment_title",
            "It is time for the scheduled evaluation of the work $consultant_name does on $assignment_title. Please "
            "rate quality, communication, expertise and reliability (1 to 5, with a comment) by $deadline:\n\n$link",
        ),
        "sv": _sv(
            "Dags att utvärdera $consultant_name: $assignment_title",
            "Det är dags för den schemalagda utvärderingen av arbetet som $consultant_name gör i $assignment_title. "
            "Betygsätt kvalitet, kommunikation, expertis och pålitlighet (1 till 5, med en kommentar) senast "
            "$deadline:\n\n$link",
        ),
    },
    "evaluation_due_consultant": {
        "en": _en(
            "Time for your self-assessment: $assignment_title",
            "It is time to evaluate your work on $assignment_title for $client_name. Please write your "
            "self-assessment by $deadline; your Consultant Agent will check in with you.\n\n$link",
        ),
        "sv": _sv(
            "Dags för din självskattning: $assignment_title",
            "Det är dags att utvärdera ditt arbete med $assignment_title hos $client_name. Skriv din självskattning "
            "senast $deadline; din konsultagent hör av sig.\n\n$link",
        ),
    },
    "evaluation_reminder_client": {
        "en": _en(
            "Reminder: evaluate $consultant_name by $deadline",
            "We have not yet received your evaluation of the work $consultant_name does on $assignment_title. Please "
            "rate it by $deadline:\n\n$link",
        ),
        "sv": _sv(
            "Påminnelse: utvärdera $consultant_name senast $deadline",
            "Vi har ännu inte fått er utvärdering av arbetet som $consultant_name gör i $assignment_title. "
            "Betygsätt det senast $deadline:\n\n$link",
        ),
    },
    "evaluation_reminder_consultant": {
        "en": _en(
            "Reminder: your self-assessment is due $deadline",
            "Your self-assessment for $assignment_title ($client_name) is still missing. Please write it by $deadline:\n\n$link",
        ),
        "sv": _sv(
            "Påminnelse: din självskattning ska in senast $deadline",
            "Din självskattning för $assignment_title ($client_name) saknas fortfarande. Skriv den senast $deadline:\n\n$link",
        ),
    },
    "evaluation_feedback": {
        "en": _en(
            "Feedback on your work: $assignment_title",
            "Customersonly followed up on your work on $assignment_title:\n\n$feedback\n\nThe evaluation: $link",
        ),
        "sv": _sv(
            "Återkoppling på ditt arbete: $assignment_title",
            "Customersonly har följt upp ditt arbete med $assignment_title:\n\n$feedback\n\nUtvärderingen: $link",
        ),
    },
    "escalation_low_score": {
        "en": _en(
            "Escalation: low scores for $consultant_name ($assignment_title)",
            "$client_name gave $consultant_name low scores in the evaluation of $assignment_title due $due_date:\n\n"
            "$scores\n\nPlease follow up with the client and the consultant, and resolve the escalation with a "
            "note:\n\n$link",
        ),
        "sv": _sv(
            "Eskalering: låga betyg för $consultant_name ($assignment_title)",
            "$client_name gav $consultant_name låga betyg i utvärderingen av $assignment_title per $due_date:\n\n"
            "$scores\n\nFölj upp med kunden och konsulten och avsluta eskaleringen med en anteckning:\n\n$link",
        ),
    },
    "escalation_missed_evaluation": {
        "en": _en(
            "Escalation: no evaluation from $client_name ($assignment_title)",
            "$client_name has not rated the work $consultant_name does on $assignment_title in the evaluation due "
            "$due_date (the deadline was $deadline).\n\nPlease contact the client, and resolve the escalation with "
            "a note:\n\n$link",
        ),
        "sv": _sv(
            "Eskalering: ingen utvärdering från $client_name ($assignment_title)",
            "$client_name har inte betygsatt arbetet som $consultant_name gör i $assignment_title i utvärderingen "
            "per $due_date (sista dag var $deadline).\n\nKontakta kunden och avsluta eskaleringen med en "
            "anteckning:\n\n$link",
        ),
    },
    "invoice_issued": {
        "en": _en(
            "Invoice from Customersonly: $total",
            "Your invoice of $total is ready; pay it by $due on its page: $link\n\n$breakdown",
        ),
        "sv": _sv(
            "Faktura från Customersonly: $total",
            "Din faktura på $total finns här; betala senast $due på dess sida: $link\n\n$breakdown",
        ),
    },
    "invoice_paid": {
        "en": _en(
            "The client paid $total",
            "The client paid the invoice of $total; $agency_net goes to the agency.\n\n$breakdown\n\n$link",
        ),
        "sv": _sv(
            "Kunden har betalat $total",
            "Kunden har betalat fakturan på $total; $agency_net går till konsultbolaget.\n\n$breakdown\n\n$link",
        ),
    },
    "claim_submitted": {
        "en": _en(
            "Milestone invoice to approve: $reference",
            "An agency submitted its invoice $reference for a milestone, $amount (excluding VAT). Check it against the "
            "contract and approve it (the client is then invoiced) or reject it with a reason.",
        ),
        "sv": _sv(
            "Delmålsfaktura att godkänna: $reference",
            "Ett konsultbolag har lämnat in sin faktura $reference för ett delmål, $amount (exklusive moms). Kontrollera "
            "den mot avtalet och godkänn den (kunden faktureras då) eller avvisa den med en motivering.",
        ),
    },
    "claim_rejected": {
        "en": _en("Your invoice $reference was rejected", "Customersonly rejected your milestone invoice $reference:\n\n$reason"),
        "sv": _sv("Er faktura $reference avvisades", "Customersonly har avvisat er delmålsfaktura $reference:\n\n$reason"),
    },
    "transfer_reversed": {
        "en": _en(
            "Money taken back: invoice of $total refunded or credited",
            "Part of the invoice of $total went back to the client (a refund or a credit note), so the agency's share "
            "of it, $amount, was taken back from its transfer.\n\n$breakdown\n\n$link",
        ),
        "sv": _sv(
            "Pengar återförda: fakturan på $total återbetald eller krediterad",
            "En del av fakturan på $total gick tillbaka till kunden (en återbetalning eller en kreditnota), så "
            "konsultbolagets andel av den, $amount, har dragits tillbaka från överföringen.\n\n$breakdown\n\n$link",
        ),
    },
    "transfer_reversed_dispute": {
        "en": _en(
            "Money held back: the client disputes the invoice of $total",
            "The client's bank disputes the payment of the invoice of $total and has taken the money back meanwhile, "
            "so the agency's share, $amount, was taken back from its transfer. If the dispute is decided for the "
            "platform, the share is paid to the agency again.\n\n$breakdown\n\n$link",
        ),
        "sv": _sv(
            "Pengar innehållna: kunden bestrider fakturan på $total",
            "Kundens bank bestrider betalningen av fakturan på $total och har tills vidare tagit tillbaka pengarna, "
            "så konsultbolagets andel, $amount, har dragits tillbaka från överföringen. Avgörs tvisten till "
            "plattformens fördel betalas andelen ut igen.\n\n$breakdown\n\n$link",
        ),
    },
    "transfer_restored": {
        "en": _en(
            "Money paid again: invoice of $total",
            "Money that had gone back from the payment of the invoice of $total is the platform's again (a dispute "
            "decided for it, or a credit or refund undone), so $amount of the agency's share was transferred to the "
            "agency again.\n\n$breakdown\n\n$link",
        ),
        "sv": _sv(
            "Pengar utbetalda igen: fakturan på $total",
            "Pengar som hade gått tillbaka från betalningen av fakturan på $total är plattformens igen (en tvist "
            "avgjord till dess fördel, eller en kreditering eller återbetalning som hävts), så $amount av "
            "konsultbolagets andel har förts över till konsultbolaget igen.\n\n$breakdown\n\n$link",
        ),
    },
    "share_move_refused": {
        "en": _en(
            "Stripe refused to move an agency's share: invoice of $total",
            "Stripe refused to move $amount of the agency's share of the invoice of $total: $why\n\n"
            "The platform tries again every hour from the invoice's current state; fix the cause in Stripe (the agency's "
            "account, the platform's balance) if it persists.\n\n$breakdown\n\n$link",
        ),
        "sv": _sv(
            "Stripe vägrade flytta ett konsultbolags andel: fakturan på $total",
            "Stripe vägrade flytta $amount av konsultbolagets andel av fakturan på $total: $why\n\n"
            "Plattformen försöker igen varje timme utifrån fakturans aktuella läge; åtgärda orsaken i Stripe "
            "(konsultbolagets konto, plattformens saldo) om felet består.\n\n$breakdown\n\n$link",
        ),
    },
    "next_assignments": {
        "en": _en(
            "$consultant_name's engagement ends $end_date: $count fitting assignments",
            "$consultant_name's engagement ends on $end_date. These open assignments fit them now:\n\n$assignments\n\n"
            "See them all, with the reasons, and start a proposal: $link",
        ),
        "sv": _sv(
            "$consultant_name:s uppdrag slutar $end_date: $count passande uppdrag",
            "$consultant_name:s uppdrag slutar den $end_date. De här öppna uppdragen passar just nu:\n\n$assignments\n\n"
            "Se alla, med skälen, och starta ett förslag: $link",
        ),
    },
    "payout_failed": {
        "en": _en(
            "A payout to your bank failed",
            "Stripe could not pay out to the agency's bank account. Check the bank details in the payout settings: $link",
        ),
        "sv": _sv(
            "En utbetalning till er bank misslyckades",
            "Stripe kunde inte betala ut till konsultbolagets bankkonto. Kontrollera bankuppgifterna i utbetalningsinställningarna: $link",
        ),
    },
    "contract_unsigned": {
        "en": _en(
            "Contract $status: $assignment_title",
            "The $party contract for $assignment_title ($client_name, consultant $consultant_name) was $status.\n"
            "Reason: $reason\n\nChange the terms and send it again, or cancel the engagement: $link",
        ),
        "sv": _sv(
            "Avtalet $status: $assignment_title",
            "Avtalet med $party för $assignment_title ($client_name, konsult $consultant_name) blev $status.\n"
            "Orsak: $reason\n\nÄndra villkoren och skicka det igen, eller avbryt uppdraget: $link",
        ),
    },
    "contract_unsigned_agent": {
        "en": _en(
            "Your consultant's contract was $status: $assignment_title",
            "As Consultant Agent for $consultant_name: the $party contract for $assignment_title ($client_name) was "
            "$status.\nReason: $reason\n\nPlease talk to the parties; the engagement is at $link",
        ),
        "sv": _sv(
            "Din konsults avtal blev $status: $assignment_title",
            "Som konsultagent för $consultant_name: avtalet med $party för $assignment_title ($client_name) blev "
            "$status.\nOrsak: $reason\n\nTa kontakt med parterna; uppdraget finns på $link",
        ),
    },
    "retention_notice": {
        "en": Template(
            "Keep your Customersonly account?",
            "Hello $recipient_name,\n\nyou have not used Customersonly for $months months. We keep personal data only while it "
            "is used, so unless you sign in by $deadline (UTC), your account, profile, resume and files will be erased.\n\n"
            "To keep them, sign in at $login_link . To be erased sooner, you need to do nothing.\n",
        ),
        "sv": Template(
            "Vill du behålla ditt konto på Customersonly?",
            "Hej $recipient_name,\n\ndu har inte använt Customersonly på $months månader. Vi sparar personuppgifter bara så "
            "länge de används, så om du inte loggar in senast $deadline (UTC) raderas ditt konto, din profil, ditt CV och dina "
            "filer.\n\nLogga in på $login_link för att behålla dem. Vill du att de raderas behöver du inte göra något.\n",
        ),
    },
}


def _one_line(value: str) -> str:
    """A subject is one header line: a value with line breaks (a title typed by someone) must not split it."""
    return " ".join(value.split())


def render(kind: str, language: str, params: Mapping[str, str]) -> tuple[str, str]:
    """(subject, text) of ``kind`` in ``language`` (English when there are no texts in it). Raises
    KeyError for an unknown kind and MissingParameter when a placeholder has no value in ``params``."""
    languages = TEMPLATES[kind]
    template = languages.get(language) or languages[FALLBACK_LANGUAGE]
    values = {name: str(value) for name, value in params.items()}
    try:
        subject = string.Template(template.subject).substitute({name: _one_line(value) for name, value in values.items()})
        text = string.Template(template.text).substitute(values)
    except KeyError as exc:
        raise MissingParameter(f"template {kind!r} needs a value for {exc.args[0]!r}") from None
    return _one_line(subject), text
