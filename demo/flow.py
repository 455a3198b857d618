"""The whole flow, step by step, through the public HTTP API as its users play it.

An agency (Nordlys Konsult AB, its admin Anna) registers, invites Cecilia and represents Rita with her written
consent; both fill in their resumes and upload a PDF CV. A client (Kund Industri AB, its user Bo) registers,
is approved and posts an assignment for platform engineers; staff (Stina) match, ask for the consents at the
agency's rates and send the proposal; the client interviews Cecilia with her Consultant Agent (Alex) and
accepts both. Both contracts of each engagement are signed through the links in the signers' mail. Cecilia's
engagement runs: last month's time is reported, confirmed, invoiced and paid, the agency's share recorded, and
an evaluation round is answered. Rita's engagement ended yesterday: both sides review each other, then Rita
exports her data and has herself erased.

A running server cannot travel in time, so staff date the terms back before the contracts go out: both
engagements started 74 days ago (last month is inside them, and an evaluation round falls due today: the
first 14 days after the start, then every 30), and Rita's last day was yesterday. The interview is booked a
few seconds ahead so that its outcome can be recorded once it has started.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.money import format_amount
from chalicelib.local.mailbox import Mail
from demo.api import Api, DemoFailure, check, wait_for
from demo.documents import pdf_with_text
from demo.stack import LocalOnly, Side

PASSWORD = "customersonly-demo"  # noqa: S105 - everyone's, printed: sign in afterwards and look around
SEK = "SEK"
RATES = {"Cecilia": 115_000, "Rita": 110_000}  # what the agency asks of the client per hour, in öre
DAYS_SINCE_START = 74  # 14 + 2 * 30: an evaluation round falls due today
INTERVIEW_LEAD = timedelta(seconds=15)  # time enough to pick the slot before it starts
SIGNING_LINK = re.compile(r"/sign/(\w+)\?token=([\w-]+)")
RATE_FIT = {"within": "rate within budget", "above": "rate above budget", "other_currency": "rate in another currency"}


@dataclass
class Person:
    name: str
    email: str
    user_id: str = ""
    token: str = ""
    org_id: str | None = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


def say(line: str) -> None:
    print(line, flush=True)


class Demo:
    def __init__(self, api: Api, side: Side) -> None:
        self.api, self.side = api, side
        self.tag = tag = secrets.token_hex(3)  # this run's people, on a stack that may hold earlier runs
        self.staff = Person("Stina Staff", f"stina+{tag}@customersonly.example")
        self.agent = Person("Alex Agent", f"alex+{tag}@customersonly.example")
        self.admin = Person("Anna Admin", f"anna+{tag}@nordlys.example")
        self.cecilia = Person("Cecilia Consultant", f"cecilia+{tag}@nordlys.example")
        self.rita = Person("Rita Represented", f"rita+{tag}@nordlys.example")
        self.buyer = Person("Bo Buyer", f"bo+{tag}@kund.example")
        self.today = datetime.now(UTC).date()
        self.ids: dict[str, str] = {}
        self.notice_version = ""
        self.cvs: dict[str, bytes] = {}

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("the API answers", self.api_answers),
            ("staff are created with the operator command", self.staff_created),
            ("an agency registers", self.agency_registers),
            ("a consultant joins by invitation", self.consultant_joins),
            ("a consultant represented with verified written consent", self.represented_consultant),
            ("Cecilia fills in her profile and resume", self.cecilia_resume),
            ("Cecilia uploads her CV (PDF)", self.cecilia_cv),
            ("the agency fills in Rita's resume, Rita uploads her CV", self.rita_resume),
            ("a client registers and is approved", self.client_approved),
            ("the client posts an assignment", self.assignment_posted),
            ("staff match consultants, with reasons", self.matched),
            ("consent requests, consents at the agency's rate", self.consented),
            ("a proposal to the client", self.proposed),
            ("an interview with the Consultant Agent", self.interview),
            ("the client accepts", self.accepted),
            ("both contracts signed", self.contracts_signed),
            ("a month of time reported", self.time_reported),
            ("the agency confirms: an invoice", self.invoiced),
            ("the invoice is issued once the agency can be paid", self.issued),
            ("the client pays", self.paid),
            ("the agency's share recorded", self.agency_share),
            ("an evaluation round", self.evaluation),
            ("the engagement ends: mutual reviews", self.reviews),
            ("a GDPR export", self.export),
            ("an erasure", self.erasure),
        ]

    def run(self, out: Callable[[str], None] = say) -> int:
        """Plays every step, printing what each checked: 0 when all passed, 1 at the first failure, 2 when a
        step needs a local stack's side that this API does not have."""
        steps = self.steps()
        started = time.monotonic()
        out(f"Playing the whole flow against {self.api.base_url}: run {self.tag} (addresses +{self.tag}@…, password {PASSWORD})")
        for number, (name, play) in enumerate(steps, 1):
            label = f"[{number:2}/{len(steps)}] {name}"
            try:
                checked = play()
            except LocalOnly as exc:
                out(f"{label}: STOPPED: {exc}")
                return 2
            except DemoFailure as exc:
                out(f"{label}: FAILED: {exc}")
                return 1
            except Exception as exc:  # an answer not shaped as documented, a connection refused: failures too
                traceback.print_exc()
                out(f"{label}: FAILED: {type(exc).__name__}: {exc}")
                return 1
            out(f"{label}: {checked}")
        out(f"The whole flow passed: {len(steps)} steps in {time.monotonic() - started:.0f} s.")
        return 0

    # --- the steps ----------------------------------------------------------------------------------------

    def api_answers(self) -> str:
        health = self.api.get("/health")
        check(health["status"] == "ok", f"/health says {health}")
        document = self.api.get("/openapi.json")
        notice = self.api.get("/privacy-notice")
        self.notice_version = notice["version"]
        return (
            f"/health ok (version {health['version']}); OpenAPI {document['openapi']} with {len(document['paths'])} paths; "
            f"privacy notice {notice['version']}"
        )

    def staff_created(self) -> str:
        for person in (self.staff, self.agent):
            self.side.command("create-staff", "--email", person.email, "--name", person.name, "--password", PASSWORD)
            roles = self.sign_in(person)
            check(roles == ["staff"], f"{person.name} has the roles {roles}")
        return "Stina Staff and Alex Agent (a Consultant Agent) made by `make create-staff`'s command; each signed in: role staff"

    def agency_registers(self) -> str:
        body = {"organisation": self.organisation("Nordlys Konsult AB", self.admin), "admin": self.new_user(self.admin), **self.consent()}
        registered = self.api.post("/registrations/agency", body, expect=201)
        check(registered["user"]["status"] == "pending_verification", f"a new agency admin is {registered['user']['status']}")
        self.confirm_email(self.admin)
        roles = self.sign_in(self.admin)
        check(roles == ["agency_admin"], f"the agency's admin has the roles {roles}")
        return "Nordlys Konsult AB pending_verification; the code from Anna's mailbox confirmed it: active; signed in as agency_admin"

    def consultant_joins(self) -> str:
        invitations = f"/agencies/{self.admin.org_id}/invitations"
        invited = self.api.post(invitations, {"email": self.cecilia.email}, token=self.admin.token, expect=201)
        check("code" not in invited, "the agency was shown the invitation code")
        code = self.mailed_code(self.cecilia.email, "invitation")
        self.api.post("/registrations/consultant", self.consultant_form(self.cecilia, code), expect=201)
        roles = self.sign_in(self.cecilia)
        check(roles == ["consultant"] and self.cecilia.org_id == self.admin.org_id, "Cecilia is not the agency's consultant")
        return "the invitation code went to Cecilia's mailbox only (not to the agency); she registered with it: the agency's consultant"

    def represented_consultant(self) -> str:
        named = {"consultant_name": self.rita.name, "consultant_email": self.rita.email}
        created = self.api.post(f"/agencies/{self.admin.org_id}/consent-documents", named, token=self.admin.token, expect=201)
        signed = pdf_with_text(
            "Written consent",
            f"I, {self.rita.name}, agree that Nordlys Konsult AB adds my profile to Customersonly",
            "and presents it to clients on my behalf.",
            f"Stockholm, {self.today.isoformat()}",
            self.rita.name,
        )
        self.api.upload(created["upload"], "written-consent.pdf", signed, "application/pdf")
        path = f"/consent-documents/{created['document']['document_id']}"
        document = self.read_when("the upload check of the written consent", path, self.admin, lambda d: d["status"] == "uploaded")
        check(document["sha256"] == hashlib.sha256(signed).hexdigest(), "the recorded SHA-256 is not the uploaded file's")
        pending = self.api.get("/consent-documents?status=uploaded", token=self.staff.token)["items"]
        check(document["document_id"] in [d["document_id"] for d in pending], "staff do not see the document to verify")
        check(self.api.download(self.api.get(f"{path}/file", token=self.staff.token)["url"]) == signed, "staff read other bytes")
        verified = self.api.post(f"{path}/verify", {"reason": "Signed and dated by the consultant"}, token=self.staff.token)
        check(verified["status"] == "verified", f"the document is {verified['status']}")

        mail = self.mail_to(self.rita.email, "the invitation to confirm the representation", lambda m: "represent you" in m["subject"])
        form = self.consultant_form(self.rita, self.code_in(mail, "invitation"))
        self.api.post("/registrations/consultant", form, expect=422)  # not without confirming the representation
        self.api.post("/registrations/consultant", {**form, "confirm_agency_representation": True}, expect=201)
        self.sign_in(self.rita)
        check(self.api.get(path, token=self.admin.token)["status"] == "confirmed", "the document is not confirmed")
        consents = self.api.get("/me/consents", token=self.rita.token)["consents"]
        purposes = sorted(c["consent"]["purpose"] for c in consents if c["in_force"])
        check(purposes == ["agency_representation", "platform_processing"], f"Rita's consents in force: {purposes}")
        return (
            "the agency uploaded Rita's signed consent (PDF straight to storage, SHA-256 recorded); staff read and verified it; "
            "Rita's invitation asked her to confirm (refused without, 422); she did: document confirmed, consents in force: "
            f"{', '.join(purposes)}"
        )

    def cecilia_resume(self) -> str:
        token = self.cecilia.token
        profile = self.profile(self.cecilia, "Platform engineer", "Kubernetes platforms for payment systems, built to be operated.")
        self.api.put("/me/profile", profile, token=token)
        self.api.put("/me/resume/letter", {"text": "I move payment systems to the cloud without downtime."}, token=token)
        experience = {"organisation": "Klarna", "role": "Platform engineer", "start": "2019-03-01", "skills_used": ["k8s", "Terraform"]}
        self.api.post("/me/resume/experience", experience, token=token, expect=201)
        education = {
            "institution": "KTH",
            "degree": "MSc",
            "field_of_study": "Computer science",
            "start": "2011-08-20",
            "end": "2016-06-10",
        }
        self.api.post("/me/resume/education", education, token=token, expect=201)
        for name, years in (("Terraform", 6), ("AWS", 7)):
            self.api.post("/me/resume/skills", {"name": name, "level": 5, "years": years}, token=token, expect=201)
        score = self.api.get("/me/profile/completeness", token=token)["score"]
        skills = [s["skill_id"] for s in self.api.get("/me/resume", token=token)["skills"]]
        return f"profile, letter, experience and education saved; skills normalised to {', '.join(skills)}; completeness {score} %"

    def cecilia_cv(self) -> str:
        file = self.upload_cv(self.cecilia, "Skills: Kubernetes, Python, Apache Kafka, Terraform, AWS")
        suggested = {s["skill_id"]: s["name"] for s in file["suggestions"] if s["state"] == "suggested"}
        check({"kubernetes", "python"} <= set(suggested), f"the CV's suggested skills are {sorted(suggested)}")
        for skill_id in ("kubernetes", "python"):
            decision = {"skill_id": skill_id, "decision": "accept"}
            self.api.post(f"/me/files/{file['file_id']}/suggestions", decision, token=self.cecilia.token)
        skills = [s["skill_id"] for s in self.api.get("/me/resume", token=self.cecilia.token)["skills"]]
        check({"kubernetes", "python"} <= set(skills), f"the resume's skills are {skills}")
        excerpt = " ".join(file["text_excerpt"].split())[:38]
        return (
            f"the real PDF was checked and read ('{excerpt}…'); skills suggested from it: {', '.join(sorted(suggested.values()))}; "
            "Kubernetes and Python accepted into the resume"
        )

    def rita_resume(self) -> str:
        consultant = f"/consultants/{self.rita.user_id}"
        profile = self.profile(self.rita, "Cloud engineer", "AWS landing zones and Kubernetes operations.")
        self.api.put(f"{consultant}/profile", profile, token=self.admin.token)
        for name in ("Kubernetes", "AWS", "Go"):
            self.api.post(f"{consultant}/resume/skills", {"name": name, "level": 4, "years": 5}, token=self.admin.token, expect=201)
        experience = {"organisation": "Telia", "role": "Cloud engineer", "start": "2018-09-01"}
        self.api.post(f"{consultant}/resume/experience", experience, token=self.admin.token, expect=201)
        check(self.api.get("/me/profile", token=self.rita.token)["title"] == "Cloud engineer", "Rita does not see what her agency saved")
        file = self.upload_cv(self.rita, "Skills: AWS, Kubernetes, Go")
        return (
            "the agency saved Rita's profile and resume (allowed while her written consent is in force); "
            f"her CV was checked: {file['status']}, {file['size_bytes']} bytes"
        )

    def client_approved(self) -> str:
        body = {"company": self.organisation("Kund Industri AB", self.buyer), "user": self.new_user(self.buyer), **self.consent()}
        self.api.post("/registrations/client", body, expect=201)
        self.confirm_email(self.buyer)
        self.sign_in(self.buyer)
        company = f"/client-companies/{self.buyer.org_id}"
        status = self.api.get(f"/organisations/{self.buyer.org_id}", token=self.buyer.token)["status"]
        check(status == "pending_approval", f"a new client company is {status}")
        self.api.post(f"{company}/assignments", self.assignment_form(), token=self.buyer.token, expect=409)
        pending = self.api.get("/client-companies", token=self.staff.token)["items"]
        check(self.buyer.org_id in [o["org_id"] for o in pending], "staff do not see the company waiting for approval")
        approved = self.api.post(f"{company}/approve", {}, token=self.staff.token)
        check(approved["status"] == "active", f"the approved company is {approved['status']}")
        return "Kund Industri AB confirmed Bo's e-mail; pending_approval, so its assignment was refused (409); staff approved it: active"

    def assignment_posted(self) -> str:
        assignments = f"/client-companies/{self.buyer.org_id}/assignments"
        posted = self.api.post(assignments, self.assignment_form(), token=self.buyer.token, expect=201)
        check(posted["status"] == "draft", f"a new assignment is {posted['status']}")
        self.ids["assignment"] = posted["assignment_id"]
        published = self.api.post(f"/assignments/{self.ids['assignment']}/publish", token=self.buyer.token)
        check(published["status"] == "open", f"a published assignment is {published['status']}")
        required = [s["skill_id"] for s in posted["required_skills"]]
        return f"'{posted['title']}' drafted (required skills normalised to {', '.join(required)}) and published: open"

    def matched(self) -> str:
        ours = {self.cecilia.user_id, self.rita.user_id}

        def run() -> dict[str, Any] | None:
            found: dict[str, Any] = self.api.post(
                f"/assignments/{self.ids['assignment']}/matches?limit=50", token=self.staff.token, expect=201
            )
            return found if ours <= {c["user_id"] for c in found["items"]} else None

        match = wait_for("both consultants to be findable (the stream indexes them)", run)
        self.ids["match_run"] = match["run_id"]
        ranked = [c["user_id"] for c in match["items"]]
        place = {p.first_name: ranked.index(p.user_id) for p in (self.cecilia, self.rita)}
        cecilia, rita = match["items"][place["Cecilia"]], match["items"][place["Rita"]]
        check(place["Cecilia"] < place["Rita"], "Rita, missing a required skill, ranks above Cecilia")
        check(cecilia["reasons"]["missing_required"] == [], f"Cecilia misses {cecilia['reasons']['missing_required']}")
        check(rita["reasons"]["missing_required"] == ["Terraform"], f"Rita misses {rita['reasons']['missing_required']}")
        return (
            f"{match['total']} candidate(s) pass the hard constraints ({match['engine']} engine); "
            f"Cecilia #{place['Cecilia'] + 1}: {self.reasons(cecilia)}; Rita #{place['Rita'] + 1}: {self.reasons(rita)}"
        )

    def consented(self) -> str:
        told = []
        for person in (self.cecilia, self.rita):
            shortlist = {"match_run_id": self.ids["match_run"], "consultant_id": person.user_id}
            candidacy = self.api.post(f"/assignments/{self.ids['assignment']}/candidacies", shortlist, token=self.staff.token, expect=201)
            self.ids[f"candidacy:{person.first_name}"] = candidacy["candidacy_id"]
            path = f"/candidacies/{candidacy['candidacy_id']}"
            asked = self.api.post(f"{path}/consent-requests", {}, token=self.staff.token)
            check(asked["status"] == "consent_requested", f"the candidacy is {asked['status']}")
            amount = RATES[person.first_name]
            hourly = {"amount_minor": amount, "currency": SEK}
            rated = self.api.put(f"{path}/rate", {"hourly_rate": hourly}, token=self.admin.token)["rate"]
            commission, agency_net = rated["commission"]["amount_minor"], rated["agency_net"]["amount_minor"]
            check(commission + agency_net == amount, f"the split does not add up: {rated}")
            rate = format_amount(amount, SEK)
            self.mail_to(person.email, f"the consent request at {rate}", self.mentioning(rate))
            for who in (person, self.admin):
                consented = self.api.post(f"{path}/consent", {"hourly_rate": hourly}, token=who.token)
            check(consented["status"] == "consented", f"after both consents the candidacy is {consented['status']}")
            told.append(
                f"{person.first_name} {rate}/h (commission {rated['commission_bps'] / 100:g} % = {format_amount(commission, SEK)}, "
                f"agency net {format_amount(agency_net, SEK)})"
            )
        return (
            f"staff shortlisted both and asked; the agency set the rates, mailed to each: {'; '.join(told)}; both sides consented to them"
        )

    def proposed(self) -> str:
        candidacies = [self.ids["candidacy:Cecilia"], self.ids["candidacy:Rita"]]
        proposals = f"/assignments/{self.ids['assignment']}/proposals"
        sent = self.api.post(proposals, {"candidacy_ids": candidacies}, token=self.staff.token, expect=201)
        check(sent["proposal"]["candidate_count"] == 2 and sent["skipped"] == [], f"skipped: {sent['skipped']}")
        self.ids["proposal"] = proposal_id = sent["proposal"]["proposal_id"]
        self.mail_to(self.buyer.email, "the proposal's e-mail", lambda m: m["subject"].startswith("New candidates for"))
        names = [c["display_name"] for c in self.api.get(f"/proposals/{proposal_id}", token=self.buyer.token)["candidates"]]
        for candidacy_id in candidacies:
            profile = str(self.api.get(f"/proposals/{proposal_id}/candidates/{candidacy_id}", token=self.buyer.token))
            check("Consultant" not in profile and "Represented" not in profile and "@" not in profile, "a profile shows contact data")
        return (
            f"the client was mailed and sees {len(names)} candidates, redacted ({', '.join(names)}), each with rate, commission and "
            "agency net; no surnames or addresses"
        )

    def interview(self) -> str:
        for person in (self.cecilia, self.rita):
            agent = {"agent_id": self.agent.user_id, "note": "Payments migration at Kund Industri AB"}
            self.api.put(f"/consultants/{person.user_id}/agent", agent, token=self.staff.token)
        starts = (datetime.now(UTC) + INTERVIEW_LEAD).replace(microsecond=0)
        slot = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(minutes=45)).isoformat()}
        candidate = f"/proposals/{self.ids['proposal']}/candidates/{self.ids['candidacy:Cecilia']}"
        requested = self.api.post(f"{candidate}/interviews", {"slots": [slot], "location": "Teams"}, token=self.buyer.token, expect=201)
        self.ids["interview"] = requested["interview_id"]
        booked = self.api.post(f"/interviews/{self.ids['interview']}/schedule", {"starts_at": slot["starts_at"]}, token=self.cecilia.token)
        check(booked["status"] == "scheduled" and booked["agent_id"] == self.agent.user_id, f"the interview is {booked['status']}")
        for person in (self.buyer, self.cecilia, self.agent):
            self.mail_to(person.email, "a calendar invitation", lambda m: any("METHOD:REQUEST" in a["content"] for a in m["attachments"]))
        self.ids["interview_starts"] = slot["starts_at"]
        return (
            "staff made Alex Cecilia's and Rita's Consultant Agent; the client proposed a slot, Cecilia took it; "
            "the client, Cecilia and Alex each got an iCalendar invitation"
        )

    def accepted(self) -> str:
        starts = datetime.fromisoformat(self.ids["interview_starts"])
        time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds() + 1))  # an outcome is recorded once it has started
        outcome = {"outcome": "positive", "notes": "Strong on migrations; the client wants her from the start."}
        recorded = self.api.post(f"/interviews/{self.ids['interview']}/outcome", outcome, token=self.agent.token)
        check(recorded["outcome"] == "positive", f"the interview's outcome is {recorded['outcome']}")
        for person in (self.cecilia, self.rita):
            path = f"/proposals/{self.ids['proposal']}/candidates/{self.ids[f'candidacy:{person.first_name}']}/accept"
            accepted = self.api.post(path, {}, token=self.buyer.token)
            check(accepted["status"] == "accepted" and accepted["engagement_id"], f"the candidacy is {accepted['status']}")
            self.ids[f"engagement:{person.first_name}"] = accepted["engagement_id"]
            engagement = self.api.get(f"/engagements/{accepted['engagement_id']}", token=self.buyer.token)
            check(engagement["status"] == "contracting", f"a new engagement is {engagement['status']}")
        return (
            "Alex recorded the interview positive; the client accepted Cecilia and Rita: two engagements, contracting at the agreed rates"
        )

    def contracts_signed(self) -> str:
        start = self.today - timedelta(days=DAYS_SINCE_START)
        ends = {"Cecilia": start + timedelta(days=180), "Rita": self.today - timedelta(days=1)}
        for first_name, end in ends.items():
            path = f"/engagements/{self.ids[f'engagement:{first_name}']}"
            terms = self.api.get(path, token=self.staff.token)["terms"]
            form = {k: terms[k] for k in ("pricing", "currency", "rate_minor", "share_of_full_time", "scope", "payment_terms_days")}
            form |= {"start_date": start.isoformat(), "end_date": end.isoformat(), "reporting_period": "month"}
            self.api.put(f"{path}/terms", form, token=self.staff.token)
            sent = self.api.post(f"{path}/contracts/send", {}, token=self.staff.token)
            check(sorted(c["party"] for c in sent["contracts"]) == ["agency", "client"], "not one contract per party")
        # The client and the agency sign their contract of each engagement; the platform signs all four.
        signatures = sum(self.sign_everything(person, links) for person, links in ((self.buyer, 2), (self.admin, 2), (self.staff, 4)))
        for first_name in ends:
            path = f"/engagements/{self.ids[f'engagement:{first_name}']}"
            # Rita's may be ended by the time it is read: the stack's own jobs run every minute, and her last day is over.
            self.read_when(f"{first_name}'s engagement to be activated", path, self.staff, lambda e: e["activated_at"])
        engagement = self.api.get(f"/engagements/{self.ids['engagement:Cecilia']}", token=self.buyer.token)
        [contract] = engagement["contracts"]  # the client's own
        signed = f"/engagements/{engagement['engagement_id']}/contracts/{contract['contract_id']}/document?kind=signed"
        link = self.api.get(signed, token=self.buyer.token)
        check(hashlib.sha256(self.api.download(link["url"])).hexdigest() == link["sha256"], "the signed PDF is not the one recorded")
        self.mail_to(self.cecilia.email, "the news that the contracts are signed", lambda m: m["subject"].startswith("Contracts signed"))
        assignment = self.api.get(f"/assignments/{self.ids['assignment']}", token=self.buyer.token)
        check(assignment["status"] == "filled", f"the assignment is {assignment['status']}")
        return (
            f"staff dated the terms back (both from {start}, Rita's last day yesterday) and sent 4 contracts; {signatures} signatures "
            "through the links in the client's, the agency's and the platform's mail, each after reading the PDF and checking its "
            "SHA-256; both engagements active, the assignment filled, the signed PDF downloadable"
        )

    def time_reported(self) -> str:
        first = (self.today.replace(day=1) - timedelta(days=1)).replace(day=1)  # last month's
        self.ids["period"] = period = first.strftime("%Y-%m")
        # Mondays to Thursdays, 8 hours: the 80 % of full time the assignment asked for.
        days = [d for d in (first + timedelta(days=n) for n in range(31)) if d.month == first.month and d.weekday() < 4]
        path = f"/engagements/{self.ids['engagement:Cecilia']}"
        for day in days:
            entry = {"day": day.isoformat(), "minutes": 480, "description": "Payments migration"}
            self.api.put(f"{path}/time", entry, token=self.cecilia.token)
        submitted = self.api.post(f"{path}/periods/submit", {"period": period}, token=self.cecilia.token)
        check(submitted["status"] == "submitted" and submitted["minutes"] == 480 * len(days), f"the period is {submitted}")
        return f"Cecilia reported {len(days)} days of {period} (Mondays to Thursdays, 8 h) and submitted the month: {len(days) * 8} h"

    def invoiced(self) -> str:
        period, engagement_id = self.ids["period"], self.ids["engagement:Cecilia"]
        waiting = self.api.get(f"/agencies/{self.admin.org_id}/periods", token=self.admin.token)["items"]
        check((engagement_id, period) in [(p["engagement_id"], p["period"]) for p in waiting], "the agency does not see the month waiting")
        confirmed = self.api.post(f"/engagements/{engagement_id}/periods/confirm", {"period": period}, token=self.admin.token)
        self.ids["invoice"] = confirmed["invoice"]["invoice_id"]
        b = confirmed["invoice"]["breakdown"]
        check(b["net_minor"] == confirmed["period"]["minutes"] * RATES["Cecilia"] // 60, f"the net is {b['net_minor']}")
        check(b["agency_net_minor"] + b["commission_minor"] == b["net_minor"], "agency net and commission do not add up to the net")
        check(b["total_minor"] == b["net_minor"] + b["vat_minor"] and b["vat_rate_bps"] == 2500, "not Swedish VAT on the net")
        amounts = {key: format_amount(b[f"{key}_minor"], SEK) for key in ("total", "net", "commission", "agency_net", "vat")}
        return (
            f"the agency saw {period} waiting and confirmed it: an invoice of {amounts['total']} (net {amounts['net']}, commission "
            f"{b['commission_bps'] / 100:g} % {amounts['commission']}, to the agency {amounts['agency_net']}, VAT 25 % {amounts['vat']})"
        )

    def issued(self) -> str:
        path = f"/invoices/{self.ids['invoice']}"
        waiting = self.read_when("the invoice to wait for the agency's payout account", path, self.admin, lambda i: i["blocked_reason"])
        onboarding = self.api.post(f"/agencies/{self.admin.org_id}/payouts/onboarding", token=self.admin.token)
        check(onboarding["url"].startswith("https://"), f"the onboarding link is {onboarding['url']}")
        self.side.command("activate-payouts", "--agency-id", str(self.admin.org_id))
        payouts = f"/agencies/{self.admin.org_id}/payouts"
        self.read_when("the agency's transfers to be active", payouts, self.admin, lambda p: p["transfers_active"])
        issued = self.read_when("the invoice to be issued", path, self.buyer, lambda i: i["status"] == "open")
        self.mail_to(self.buyer.email, "the invoice's payment page", self.mentioning(issued["hosted_invoice_url"]))
        return (
            f"it waited ('{waiting['blocked_reason']}'); the agency followed its onboarding link (offline Stripe: "
            "`make activate-payouts`): transfers active; the invoice was issued and its payment page mailed to the client"
        )

    def paid(self) -> str:
        self.side.command("pay-invoice", "--invoice-id", self.ids["invoice"])
        path = f"/invoices/{self.ids['invoice']}"
        paid = self.read_when("Stripe's webhook to mark the invoice paid", path, self.buyer, lambda i: i["status"] == "paid")
        total = paid["breakdown"]["total_minor"]
        check(paid["amount_paid_minor"] == total, f"paid {paid['amount_paid_minor']} of {total}")
        return (
            f"the client paid {format_amount(total, SEK)} on the hosted page (offline Stripe: `make pay-invoice`); Stripe's webhook: paid"
        )

    def agency_share(self) -> str:
        invoice = self.api.get(f"/invoices/{self.ids['invoice']}", token=self.admin.token)
        share = format_amount(invoice["breakdown"]["agency_net_minor"], SEK)
        transferred = invoice["agency_share_transferred_minor"]
        check(transferred == invoice["breakdown"]["agency_net_minor"], f"the invoice records {transferred} transferred to the agency")
        check(invoice["agency_share_held_back_minor"] == 0, "part of the agency's share is held back")
        self.mail_to(self.admin.email, f"the agency's payment notice naming {share}", self.mentioning(share))
        unread = self.api.get("/me/notifications?unread=true", token=self.cecilia.token)["items"]
        check(any(n["object_id"] == self.ids["invoice"] for n in unread), "Cecilia was not told of the payment")
        return f"the invoice records {share} transferred to the agency's payout account, nothing held back; Anna and Cecilia were told"

    def evaluation(self) -> str:
        self.side.command("proposal-jobs")
        rounds = self.api.get(f"/engagements/{self.ids['engagement:Cecilia']}/evaluations", token=self.buyer.token)["items"]
        check([r["due_date"] for r in rounds] == [self.today.isoformat()], f"the rounds are due {[r['due_date'] for r in rounds]}")
        evaluation = f"/evaluations/{rounds[0]['evaluation_id']}"
        self.mail_to(self.buyer.email, "the client's reminder", lambda m: m["subject"].startswith("Time to evaluate"))
        self.mail_to(self.cecilia.email, "Cecilia's reminder", lambda m: m["subject"].startswith("Time for your self-assessment"))
        scores = {"quality": {"score": 5}, "communication": {"score": 4}, "expertise": {"score": 5}, "reliability": {"score": 4}}
        rated = self.api.post(f"{evaluation}/client-rating", scores, token=self.buyer.token)
        assessment = {"text": "The cut-over plan is agreed; next, the batch jobs."}
        self.api.post(f"{evaluation}/self-assessment", assessment, token=self.cecilia.token)
        check_in = {"notes": "Client happy; watch the batch-job estimate.", "feedback": "Great start: keep the weekly demos."}
        done = self.api.post(f"{evaluation}/check-in", check_in, token=self.agent.token)
        check(done["status"] == "completed", f"the round is {done['status']}")
        self.mail_to(self.cecilia.email, "the agent's feedback", self.mentioning(check_in["feedback"]))
        return (
            "the scheduled jobs (`make proposal-jobs`) opened the round due today; the client and Cecilia were reminded; the client rated "
            f"{rated['client_rating']['average']} on average, Cecilia assessed herself, Alex checked in: completed, feedback mailed"
        )

    def reviews(self) -> str:
        engagement = f"/engagements/{self.ids['engagement:Rita']}"
        status = self.api.get(engagement, token=self.rita.token)["status"]  # the jobs of the step before ended it
        check(status == "ended", f"Rita's engagement is {status} after its last day")
        for person in (self.buyer, self.rita):
            self.mail_to(person.email, "the news that the engagement ended", lambda m: m["subject"].startswith("Engagement ended"))
        review = {"rating": 5, "text": "Rita got our landing zone right."}
        theirs = self.api.post(f"{engagement}/reviews", review, token=self.buyer.token, expect=201)
        check(theirs["revealed"] is False, "the first review is visible before the other side wrote theirs")
        blind = self.api.get(f"{engagement}/reviews", token=self.rita.token)
        check(blind["submitted"] == ["client"] and blind["reviews"] == [], "Rita reads the client's review before writing hers")
        hers = self.api.post(
            f"{engagement}/reviews", {"rating": 4, "text": "Clear goals, quick decisions."}, token=self.rita.token, expect=201
        )
        check(hers["revealed"] is True, "both reviews are in, and hers is not revealed")
        check(self.api.get(f"/reviews/{theirs['review_id']}", token=self.rita.token)["text"] == review["text"], "Rita cannot read it")
        rating = self.api.get(f"/consultants/{self.rita.user_id}/reviews", token=self.admin.token)["rating"]
        check(rating == {"count": 1, "average": 5.0}, f"Rita's rating is {rating}")
        return (
            "the jobs ended Rita's engagement (last day yesterday) and told the client and Rita; the client reviewed first, "
            "blind to Rita (she saw only that it was in); hers revealed both at once; the agency reads her rating: 5.0 from 1 review"
        )

    def export(self) -> str:
        export = self.api.get("/me/export", token=self.rita.token)
        check(export["user"]["email"] == self.rita.email and export["profile"]["title"] == "Cloud engineer", "not Rita's profile")
        purposes = sorted({c["purpose"] for c in export["consents"]})
        check({"agency_representation", "platform_processing"} <= set(purposes), f"the consents exported are {purposes}")
        check([d["client_id"] for d in export["disclosures"]] == [self.buyer.org_id], "the disclosure to the client is not listed")
        check([e["status"] for e in export["engagements"]] == ["ended"], "her ended engagement is not listed")
        check(len(export["reviews"]) == 2 and export["json_resume"] is not None, "the reviews or the JSON Resume are missing")
        archive = self.api.post("/me/export/archive", token=self.rita.token, expect=202)
        path = f"/me/export/archive/{archive['archive_id']}"
        ready = self.read_when("the archive of Rita's files", path, self.rita, lambda a: a["status"] == "ready")
        with zipfile.ZipFile(io.BytesIO(self.api.download(ready["download"]["url"]))) as zipped:
            contents = [zipped.read(name) for name in zipped.namelist()]
        check(self.cvs[self.rita.email] in contents, "the archive does not hold Rita's CV")
        return (
            f"Rita's export: profile, resume (and as JSON Resume), {len(export['files'])} file, consents ({', '.join(purposes)}), "
            f"the disclosure to the client, her engagement, {len(export['reviews'])} reviews; the zip of her files holds her CV as uploaded"
        )

    def erasure(self) -> str:
        self.api.post("/me/erasure", {"password": "not-her-password"}, token=self.rita.token, expect=422)
        requested = self.api.post("/me/erasure", {"password": PASSWORD}, token=self.rita.token, expect=202)
        check(requested["status"] == "pending", f"the erasure is {requested['status']}")
        self.api.get("/me", token=self.rita.token, expect=401)  # disabled at once
        reviews = f"/engagements/{self.ids['engagement:Rita']}/reviews"

        def erased() -> bool:
            members = self.api.get(f"/organisations/{self.admin.org_id}/members", token=self.admin.token)["items"]
            return (
                self.api.status("GET", f"/consultants/{self.rita.user_id}/profile", token=self.staff.token) == 404
                and self.rita.email not in [m["email"] for m in members]
                and self.api.get(reviews, token=self.buyer.token)["reviews"] == []
            )

        wait_for("the privacy worker to erase Rita", erased)
        self.api.post("/auth/login", {"email": self.rita.email, "password": PASSWORD}, expect=401)
        return (
            "a wrong password was refused (422); with hers, her account was disabled at once (401), then the privacy worker erased "
            "her: no profile for staff, gone from the agency's members, the reviews she wrote and received deleted, no sign-in"
        )

    # --- what users do on the way -------------------------------------------------------------------------

    def sign_in(self, person: Person) -> list[str]:
        person.token = self.api.post("/auth/login", {"email": person.email, "password": PASSWORD})["access_token"]
        me = self.api.get("/me", token=person.token)
        person.user_id = me["user"]["user_id"]
        person.org_id = me["organisation"]["org_id"] if me["organisation"] else None
        return list(me["user"]["roles"])

    def confirm_email(self, person: Person) -> None:
        code = self.mailed_code(person.email, "verification")
        verified = self.api.post("/registrations/verify-email", {"email": person.email, "code": code})
        check(verified["status"] == "active", f"{person.name} is {verified['status']} after confirming the e-mail")

    def mail_to(self, address: str, what: str, matches: Callable[[Mail], bool]) -> Mail:
        """The latest mail in ``address``'s inbox that ``matches``, waiting for it (the stream sends mail)."""
        return wait_for(
            f"{what} in {address}'s mailbox", lambda: next((m for m in reversed(self.side.mails_to(address)) if matches(m)), None)
        )

    @staticmethod
    def mentioning(text: str) -> Callable[[Mail], bool]:
        return lambda mail: text in mail["body"]

    def mailed_code(self, address: str, label: str) -> str:
        return self.code_in(self.mail_to(address, f"the {label} code", self.mentioning(f"{label} code:")), label)

    @staticmethod
    def code_in(mail: Mail, label: str) -> str:
        found = re.search(rf"{label} code: (\S+)", mail["body"])
        if found is None:
            raise DemoFailure(f"no {label} code in the mail '{mail['subject']}'")
        return found.group(1)

    def read_when(self, what: str, path: str, reader: Person, ready: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
        """What ``reader`` reads at ``path`` once it is ``ready``, reading again until then (a page refreshed)."""

        def read() -> dict[str, Any] | None:
            found: dict[str, Any] = self.api.get(path, token=reader.token)
            return found if ready(found) else None

        return wait_for(what, read)

    def upload_cv(self, person: Person, skills_line: str) -> dict[str, Any]:
        cv = pdf_with_text(person.name, "Curriculum vitae", skills_line, "Languages: Swedish, English")
        self.cvs[person.email] = cv
        form = {"purpose": "cv", "content_type": "application/pdf", "filename": "cv.pdf"}
        created = self.api.post("/me/files", form, token=person.token, expect=201)
        self.api.upload(created["upload"], "cv.pdf", cv, "application/pdf")
        path = f"/me/files/{created['file']['file_id']}"
        checked = self.read_when(f"the upload check of {person.first_name}'s CV", path, person, lambda f: f["status"] != "pending")
        check(checked["status"] == "accepted", f"the CV was {checked['status']}: {checked['problem']}")
        return checked

    def sign_everything(self, signer: Person, links: int) -> int:
        """Signs what waits for ``signer`` behind the ``links`` signing links in their mail (waiting for them all):
        read the PDF, check its SHA-256, type the name, confirm. The number signed."""

        def arrived() -> list[tuple[str, str]] | None:
            found = [(m[1], m[2]) for mail in self.side.mails_to(signer.email) if (m := SIGNING_LINK.search(mail["body"]))]
            return found if len(found) >= links else None

        signed = 0
        for envelope_id, token in wait_for(f"{links} signing links in {signer.email}'s mailbox", arrived):
            view = self.api.get(f"/signing/{envelope_id}?token={token}", token=signer.token)
            if view["signer_state"] != "waiting":
                continue
            pdf = self.api.download(view["document_url"])
            check(hashlib.sha256(pdf).hexdigest() == view["document_sha256"], "the PDF to sign is not the one recorded")
            form = {"token": token, "typed_name": signer.name, "document_sha256": view["document_sha256"], "agree": True}
            done = self.api.post(f"/signing/{envelope_id}/sign", form, token=signer.token)
            check(done["signer_state"] == "signed", f"{signer.name}'s signature is {done['signer_state']}")
            signed += 1
        return signed

    # --- what the forms hold ------------------------------------------------------------------------------

    def consent(self) -> dict[str, Any]:
        return {"privacy_notice_version": self.notice_version, "accept_privacy_notice": True}

    @staticmethod
    def new_user(person: Person) -> dict[str, str]:
        return {"name": person.name, "email": person.email, "password": PASSWORD}

    def consultant_form(self, person: Person, invitation_code: str) -> dict[str, Any]:
        return {**self.new_user(person), "invitation_code": invitation_code, **self.consent()}

    @staticmethod
    def organisation(name: str, billing: Person) -> dict[str, Any]:
        number = f"559{secrets.randbelow(1000):03d}-{secrets.randbelow(10000):04d}"  # unique per run, in Swedish form
        return {
            "name": name,
            "organisation_number": number,
            "country": "SE",
            "vat_number": f"SE{number.replace('-', '')}01",
            "address": {"line1": "Drottninggatan 1", "postal_code": "111 51", "city": "Stockholm", "country": "SE"},
            "billing_email": billing.email,
        }

    def profile(self, person: Person, title: str, summary: str) -> dict[str, Any]:
        return {
            "name": person.name,
            "title": title,
            "summary": summary,
            "city": "Stockholm",
            "country": "SE",
            "remote_preference": "hybrid",
            "languages": [{"code": "sv", "level": "native"}, {"code": "en", "level": "C1"}],
            "availability": {"available_from": self.today.isoformat(), "share_of_full_time": 100},
            "expected_hourly_rate": {"amount_minor": 105_000, "currency": SEK},
        }

    def assignment_form(self) -> dict[str, Any]:
        start = self.today + timedelta(days=14)
        return {
            "title": "Platform engineers for a payments migration",
            "description": "Move our payment services to Kubernetes on AWS, with Terraform, without downtime.",
            "required_skills": ["Kubernetes", "Terraform", "AWS"],
            "nice_to_have_skills": ["Python", "Go"],
            "seniority": "senior",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=180)).isoformat(),
            "share_of_full_time": 80,
            "city": "Stockholm",
            "country": "se",
            "work_modes": ["hybrid", "remote"],
            "languages": [{"code": "sv", "min_level": "B2"}, {"code": "en", "min_level": "C1"}],
            "max_hourly_rate": {"amount_minor": 130_000, "currency": SEK},
        }

    @staticmethod
    def reasons(candidate: dict[str, Any]) -> str:
        reasons = candidate["reasons"]
        matched = ", ".join(m["required_as"] for m in reasons["matched_required"]) or "none"
        missing = ", ".join(reasons["missing_required"]) or "none"
        nice = ", ".join(m["required_as"] for m in reasons["matched_nice"]) or "none"
        rate = RATE_FIT.get(reasons["rate_fit"], "no rate given")
        available = "available in time" if reasons["availability_fit"] == "in_time" else f"{reasons['days_late']} days late"
        return f"required {matched} (missing {missing}), nice-to-have {nice}, {rate}, {available}"
