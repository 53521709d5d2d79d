"""A rehearsed class against a fake server: every learner's cap holds, nothing is lost, every answer is checked."""
from __future__ import annotations

import httpx
from fake_server import FakeEngine

from labkit.classroom import simulate
from labkit.serving import servers


def test_thirty_learners_each_under_their_cap():
    with servers.start(FakeEngine(("--api-key", "k-1", "--slow-delay", "0.2")), "echo", warmup=False) as server:
        questions = [f"slow question {i}" for i in range(4)]
        r = simulate.simulate(server.base_url, "echo", learners=30, requests_per_learner=4, per_learner=2,
                              keys=["k-1"], questions=questions)
        most = httpx.get(f"{server.url}/stats").json()["max_in_flight"]
    assert (r.n_clients, r.requests, r.ok, r.lost) == (30, 120, 120, 0), r.errors[:3]
    assert r.streamed == 60 and all(a.strip() == f"echo: {q}" for q, a in r.replies)
    assert sorted(q for q, _ in r.replies) == sorted(questions * 30)
    assert most <= 60                                   # 30 learners x 2 in flight
    assert r.p95_s >= 0.2 * 2 * 0.9                     # 4 requests through 2 slots: two rounds of the slow delay


def test_each_learner_sends_its_own_key_from_the_plans_keys_file(tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("alice key-a\nbob key-b\n\ncarol key-c\n")
    keys = simulate.read_keys(str(keys_file))
    assert keys == ["key-a", "key-b", "key-c"]
    with servers.start(FakeEngine(("--api-key", ",".join(keys), "--echo-key")), "echo", warmup=False) as server:
        r = simulate.simulate(server.base_url, "echo", learners=3, requests_per_learner=2, per_learner=1, keys=keys,
                              questions=["q"])
    assert r.ok == 6 and sorted(a.strip() for _, a in r.replies) == sorted(f"echo [{k}]: q" for k in keys * 2)
