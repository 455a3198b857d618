"""Who is findable: an active consultant with a saved profile and the processing consent in force."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.accounts import UserStatus
from chalicelib.domain.identity import RequestContext
from chalicelib.domain.resume import ResumePart
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.services import consents, matching, profiles
from chalicelib.services.matching import IndexingPorts
from chalicelib.services.ports import Changes
from tests.fakes import InMemoryMatchIndex, World, make_world
from tests.unit.test_profiles import FULL
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited
from tests.unit.test_resume import EXAMPLES, add


def setup() -> tuple[World, IndexingPorts, InMemoryMatchIndex]:
    world = make_world()
    index = InMemoryMatchIndex()
    return world, IndexingPorts(world.db, world.db, world.consents.ledger, index), index


def test_a_consultant_is_findable_with_a_profile_and_consent_and_not_otherwise() -> None:
    world, ports, index = setup()
    agency = register_agency(world)
    me = principal_of(register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")))
    assert matching.reindex_consultant(ports, me.user_id) is False  # no profile yet
    # Every consent entry comes with the marker the stream reindexes on: at registration too.
    markers = {k[1] for k in world.db.items if k[0] == "consent_changed"}
    assert {me.user_id, agency.user.user_id} <= markers
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    add(world, me, me.user_id, ResumePart.SKILLS, EXAMPLES[ResumePart.SKILLS])
    assert matching.reindex_consultant(ports, me.user_id) is True
    assert [s.skill_id for s in index.candidates[me.user_id].skills] == ["microsoft-sql-server"]  # "MSSQL", normalised
    assert matching.reindex_consultant(ports, agency.user.user_id) is False  # an agency admin is no candidate

    # Withdrawing the processing consent removes them, and leaves the marker the stream reindexes on.
    entry = consents.my_consents(world.consents, me).states[0].given
    consents.withdraw_consent(world.consents, me, entry.entry_id, RequestContext())
    assert [k for k in world.db.items if k[0] == "consent_changed" and k[1] == me.user_id]
    assert matching.reindex_consultant(ports, me.user_id) is False and me.user_id not in index.candidates


def test_skills_are_normalised_again_at_index_time() -> None:
    from chalicelib.domain.resume import ResumePart as Part
    from chalicelib.schemas.resume import PART_MODELS
    from chalicelib.services import resume
    from chalicelib.taxonomy import TaxonomyBuilder, default_taxonomy

    world, _, index = setup()
    ports = IndexingPorts(world.db, world.db, world.consents.ledger, index, taxonomy=default_taxonomy())
    me = principal_of(register_invited(world, "k@consultant.example", invite(world, register_agency(world), "k@consultant.example")))
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    # Saved while the taxonomy did not know the skill: free text.
    resume.add_item(
        world.profiles,
        TaxonomyBuilder().build(),
        me,
        me.user_id,
        Part.SKILLS,
        PART_MODELS[Part.SKILLS].model_validate({"name": "k8s", "level": 4}),
    )
    assert matching.reindex_consultant(ports, me.user_id) is True
    assert [(s.skill_id, s.name) for s in index.candidates[me.user_id].skills] == [("kubernetes", "k8s")]  # the consultant's wording stays


def test_a_disabled_account_is_not_findable_and_a_full_reindex_follows_the_table() -> None:
    world, ports, index = setup()
    agency = register_agency(world)
    people = [
        principal_of(register_invited(world, email, invite(world, agency, email)))
        for email in ("a@consultant.example", "b@consultant.example")
    ]
    for person in people:
        profiles.save_my_profile(world.profiles, person, ProfileIn.model_validate(FULL))
    assert matching.reindex_all(ports) == 2
    user = world.db.get_user(people[0].user_id)
    assert user is not None
    world.db.commit(Changes().transition(replace(user, status=UserStatus.DISABLED), user.status.value))
    index.upsert(replace(index.candidates[people[1].user_id], user_id="no-longer-in-the-table"))
    assert matching.reindex_all(ports) == 1 and set(index.candidates) == {people[1].user_id}  # the index is rebuilt, not patched


def test_staff_run_a_match_that_is_recorded_paginated_and_audited() -> None:
    import pytest

    from chalicelib.domain.assignments import AssignmentStatus, candidate_ref
    from chalicelib.errors import Conflict, Forbidden
    from chalicelib.services import assignments
    from chalicelib.services.matching import MatchingPorts
    from tests.unit.test_assignments import client, post
    from tests.unit.test_registration import staff

    world, ports, _ = setup()
    agency = register_agency(world)
    people = []
    for n, skills in enumerate([["k8s", "Terraform", "AWS"], ["Kubernetes"], ["COBOL"]]):
        email = f"c{n}@consultant.example"
        person = principal_of(register_invited(world, email, invite(world, agency, email)))
        within_budget = {**FULL, "expected_hourly_rate": {"amount_minor": 100_000, "currency": "SEK"}}
        profiles.save_my_profile(world.profiles, person, ProfileIn.model_validate(within_budget))
        for skill in skills:
            add(world, person, person.user_id, ResumePart.SKILLS, {"name": skill, "level": 4, "years": 3})
        matching.reindex_consultant(ports, person.user_id)
        people.append(person)
    buyer = client(world)
    assert buyer.org_id is not None
    assignment = post(world, buyer, buyer.org_id)
    match = MatchingPorts(world.assignments, ports, "in-memory", "test-taxonomy")
    reviewer = staff(world)

    page = matching.run_match(match, reviewer, assignment.assignment_id, limit=1, offset=0, min_required_coverage=0.0)
    assert page.run.total == 2 and [r.candidate.user_id for r in page.items] == [people[0].user_id]  # COBOL shares nothing
    assert page.items[0].reasons.missing_required == ()
    second = matching.run_match(match, reviewer, assignment.assignment_id, limit=1, offset=1, min_required_coverage=0.0)
    assert [r.candidate.user_id for r in second.items] == [people[1].user_id]
    assert matching.run_match(match, reviewer, assignment.assignment_id, limit=10, offset=0, min_required_coverage=0.5).run.total == 1

    [latest, *_] = world.db.list_match_runs(assignment.assignment_id)
    assert latest.engine == "in-memory" and latest.taxonomy_version == "test-taxonomy" and latest.parameters["min_required_coverage"] == 0.5
    assert [e.candidate_ref for e in latest.ranked] == [candidate_ref(latest.run_id, people[0].user_id)]
    assert people[0].user_id not in repr(latest)  # checkable for a known person, but not the id itself
    reads = [a for a in world.consents.audit.list_for_subject(people[0].user_id) if a.action.value == "profile.read"]
    assert {a.object_type for a in reads} == {"match"} and len(reads) == 2  # shown in two runs

    # The reverse direction: open assignments that fit a consultant (for their agent).
    assignments.move_assignment(world.assignments, buyer, assignment.assignment_id, AssignmentStatus.OPEN)
    other = post(world, buyer, buyer.org_id, required_skills=["COBOL"], nice_to_have_skills=[])
    assignments.move_assignment(world.assignments, buyer, other.assignment_id, AssignmentStatus.OPEN)
    fitting = matching.assignments_for_consultant(match, reviewer, people[1].user_id)
    assert [f.assignment.assignment_id for f in fitting] == [assignment.assignment_id]
    assert fitting[0].reasons.missing_required == ("Terraform", "AWS")
    assert [f.assignment.assignment_id for f in matching.assignments_for_consultant(match, reviewer, people[2].user_id)] == [
        other.assignment_id
    ]
    with pytest.raises(Forbidden):
        matching.assignments_for_consultant(match, buyer, people[1].user_id)

    with pytest.raises(Forbidden):
        matching.run_match(match, buyer, assignment.assignment_id, limit=1, offset=0, min_required_coverage=0.0)
    assignments.move_assignment(world.assignments, buyer, assignment.assignment_id, AssignmentStatus.CANCELLED)
    with pytest.raises(Conflict):
        matching.run_match(match, reviewer, assignment.assignment_id, limit=1, offset=0, min_required_coverage=0.0)


def test_with_an_embedder_consultants_are_indexed_with_their_vector_and_matches_say_so() -> None:
    from chalicelib.matching.embeddings import candidate_text
    from chalicelib.services.matching import MatchingPorts
    from tests.fakes import HashingEmbedder
    from tests.unit.test_assignments import client, post
    from tests.unit.test_registration import staff

    world = make_world()
    index, embedder = InMemoryMatchIndex(), HashingEmbedder(dimension=64)
    ports = IndexingPorts(world.db, world.db, world.consents.ledger, index, embedder)
    agency = register_agency(world)
    me = principal_of(register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")))
    profiles.save_my_profile(
        world.profiles,
        me,
        ProfileIn.model_validate(
            {**FULL, "name": "Cecilia Unique-Surname", "expected_hourly_rate": {"amount_minor": 100_000, "currency": "SEK"}}
        ),
    )
    add(world, me, me.user_id, ResumePart.SKILLS, {"name": "Kubernetes", "level": 4, "years": 3})
    assert matching.reindex_consultant(ports, me.user_id) is True
    candidate = index.candidates[me.user_id]
    assert index.vectors[me.user_id] == embedder.embed([candidate_text(candidate)])[0]
    assert "Kubernetes" in embedder.texts[0] and "Unique-Surname" not in " ".join(embedder.texts)  # never the name

    buyer = client(world)
    assert buyer.org_id is not None
    assignment = post(world, buyer, buyer.org_id)
    match = MatchingPorts(world.assignments, ports, "in-memory", "test-taxonomy")
    page = matching.run_match(match, staff(world), assignment.assignment_id, limit=5, offset=0, min_required_coverage=0.0)
    assert index.queries[-1].vector is not None and assignment.title in embedder.texts[-1]
    assert page.run.engine == "in-memory+test-hashing-trigrams/64" and page.run.parameters["vector_weight"] == 0.3
    assert [r.candidate.user_id for r in page.items] == [me.user_id]

    # The model down: the index still follows the tables (without a vector), and matches run on text alone.
    embedder.failing = True
    assert matching.reindex_consultant(ports, me.user_id) is True and index.vectors[me.user_id] is None
    page = matching.run_match(match, staff(world), assignment.assignment_id, limit=5, offset=0, min_required_coverage=0.0)
    assert index.queries[-1].vector is None
    assert page.run.engine == "in-memory" and page.run.parameters["vector_weight"] == 0.0
    assert [r.candidate.user_id for r in page.items] == [me.user_id]


def test_without_an_embedder_nothing_is_embedded_and_runs_record_no_vectors() -> None:
    world, ports, index = setup()
    agency = register_agency(world)
    me = principal_of(register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")))
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    assert matching.reindex_consultant(ports, me.user_id) is True and index.vectors[me.user_id] is None
