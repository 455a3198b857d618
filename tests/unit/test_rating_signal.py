"""Clients' ratings weigh on the ranking only a little, and only once a consultant has enough reviews: a
newcomer is neither helped nor hurt."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.reviews import ConsultantRating
from chalicelib.matching.ranking import MIN_REVIEWS, RATING_WEIGHT, rating_factor, with_ratings
from chalicelib.services import matching
from chalicelib.services.matching import MatchingPorts
from tests.unit.test_proposals import make_scene

averages = st.floats(min_value=1.0, max_value=5.0)


@given(count=st.integers(min_value=0, max_value=1000), average=averages, other=averages)
def test_the_rating_moves_a_score_at_most_its_weight_and_only_with_enough_reviews(count: int, average: float, other: float) -> None:
    factor = rating_factor(count, average)
    assert 1 - RATING_WEIGHT <= factor <= 1 + RATING_WEIGHT
    if count < MIN_REVIEWS:
        assert factor == 1.0  # no penalty for newcomers, and no head start either
    elif average <= other:
        assert factor <= rating_factor(count, other)  # a better rating never ranks lower
    assert rating_factor(count, None) == 1.0


def test_between_two_equally_fitting_consultants_the_better_rated_comes_first() -> None:
    scene = make_scene(2)
    world = scene.world
    ports = MatchingPorts(world.assignments, _indexing(scene), "in-memory", "test", reviews=world.db)
    plain = matching.run_match(ports, scene.staff, scene.assignment.assignment_id, limit=10, offset=0, min_required_coverage=0.0)
    first, second = (r.candidate.user_id for r in plain.items[:2])
    assert plain.items[0].score == plain.items[1].score  # the scene's two consultants fit alike
    # The second has five good reviews, the first two poor ones (too few to count against them).
    now = datetime.now(UTC)
    world.db.items[("rating", second)] = ConsultantRating(second, now, count=5, total=23)
    world.db.items[("rating", first)] = ConsultantRating(first, now, count=2, total=2)
    rated = matching.run_match(ports, scene.staff, scene.assignment.assignment_id, limit=10, offset=0, min_required_coverage=0.0)
    assert [r.candidate.user_id for r in rated.items[:2]] == [second, first]
    assert rated.items[1].score == plain.items[0].score  # the newcomer's score is untouched
    assert with_ratings(plain.items, {}) == plain.items  # no ratings: the run as it was


def _indexing(scene: object) -> matching.IndexingPorts:
    from tests.fakes import InMemoryMatchIndex

    world = scene.world  # type: ignore[attr-defined]
    indexing = matching.IndexingPorts(world.db, world.db, world.consents.ledger, InMemoryMatchIndex())
    for person in scene.consultants:  # type: ignore[attr-defined]
        matching.reindex_consultant(indexing, person.user_id)
    return indexing
