"""The bridge of isolated unit mode without Docker: the real agent (runners/harness/agent.py, its launcher) in a
subprocess serving a learner package from a temporary folder, and the real tester-side client
(bridge_client.Connection) in this process, joined by pipes through a small relay that plays the
worker's part (prefixing the learner's lines, restarting the agent on request)."""

from __future__ import annotations

import decimal
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from grader_harness.bridge import client as bridge_client
from grader_harness.bridge import codec as bridge_codec

HARNESS = Path(__file__).resolve().parents[3] / "runners" / "harness"

LEARNER = {
    "shop/__init__.py": """
        from shop.core import Basket, Empty, ShopError, Colour, double, spin, crash, shout, call_back, gen, same
    """,
    "shop/core.py": """
        import enum
        import os
        from decimal import Decimal

        class ShopError(Exception):
            pass

        class Empty(ShopError, LookupError):
            def __init__(self, what):
                super().__init__(f"{what} is empty")
                self.what = what

        class Colour(enum.Enum):
            RED = "red"
            BLUE = "blue"

        class Basket:
            label = "basket"

            def __init__(self):
                self.items = []

            def add(self, name, price=Decimal("1.00")):
                self.items.append((name, price))
                return len(self.items)

            def pop(self):
                if not self.items:
                    raise Empty("basket")
                return self.items.pop()

            def __len__(self):
                return len(self.items)

            def __eq__(self, other):
                return isinstance(other, Basket) and other.items == self.items

            __hash__ = None

        def double(x):
            return 2 * x

        def same(x):
            return x

        def spin():
            while True:
                pass

        def crash():
            os._exit(7)

        def shout(text):
            print(text.upper())
            return len(text)

        def call_back(function, value):
            return function(value) + 1

        def gen(n):
            yield from range(n)
    """,
}


class Relay:
    """The worker's part: the agent's lines to the client prefixed "L ", restarts on "C" requests."""

    def __init__(self, submission: Path) -> None:
        self.submission = submission
        self.to_client_r, self.to_client_w = os.pipe()
        self.from_client_r, self.from_client_w = os.pipe()
        self.generation = 0
        self.agent: subprocess.Popen[bytes] | None = None
        self.start_agent()
        threading.Thread(target=self.pump_client, daemon=True).start()

    def start_agent(self) -> None:
        self.generation += 1
        generation = self.generation
        self.agent = subprocess.Popen(
            [sys.executable, "-I", str(HARNESS / "agent.py"), str(self.submission)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        threading.Thread(target=self.pump_agent, args=(self.agent, generation), daemon=True).start()

    def pump_agent(self, agent: subprocess.Popen[bytes], generation: int) -> None:
        assert agent.stdout is not None
        for line in agent.stdout:
            if generation == self.generation:
                os.write(self.to_client_w, b"L " + line)
        agent.wait()
        if generation == self.generation:
            os.write(self.to_client_w, f'C {{"learner": "down", "reason": "exited with code {agent.returncode}"}}\n'.encode())

    def pump_client(self) -> None:
        with os.fdopen(self.from_client_r, "rb") as lines:
            for line in lines:
                kind, _, body = line.partition(b" ")
                if kind == b"C":
                    assert self.agent is not None
                    self.generation += 1
                    self.agent.kill()
                    self.start_agent()
                    os.write(self.to_client_w, f'C {{"learner": "up", "generation": {self.generation}}}\n'.encode())
                elif self.agent is not None and self.agent.stdin is not None:
                    try:
                        self.agent.stdin.write(body)
                        self.agent.stdin.flush()
                    except OSError:
                        pass

    def close(self) -> None:
        if self.agent is not None:
            self.agent.kill()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    submission = tmp_path_factory.mktemp("learner")
    for rel, text in LEARNER.items():
        (submission / rel).parent.mkdir(parents=True, exist_ok=True)
        (submission / rel).write_text(textwrap.dedent(text))
    relay = Relay(submission)
    tampers: list[tuple[str, str]] = []
    bridge_client.install({"modules": ["shop"], "call_timeout_s": 2}, relay.to_client_r, relay.from_client_w,
                          lambda code, detail: tampers.append((code, detail)))
    import shop

    yield shop
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, bridge_client.LearnerFinder)]
    for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
        del sys.modules[name]
    relay.close()


VALUES = [1, -(2**70), 2.5, float("inf"), "x\ud800y", b"\x00\xff", bytearray(b"ab"), None, True, [1, [2]], (1, 2),
          {"a": 1, 2: "b"}, {1, 2}, frozenset({3}), decimal.Decimal("1.10"), Fraction(1, 3), 3 + 4j,
          date(2024, 1, 2), datetime(2024, 1, 2, 3, 4, tzinfo=UTC), timedelta(days=2, seconds=3), Path("/a/b")]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ for v in VALUES])
def test_values_cross_by_value_both_ways(shop: Any, value: Any) -> None:
    back = shop.same(value)
    assert back == value and type(back) is type(value)


def test_nan_crosses() -> None:
    codec = bridge_codec.Codec()
    back = codec.decode(codec.encode(float("nan")))
    assert back != back


def test_objects_classes_and_exceptions(shop: Any) -> None:
    basket = shop.Basket()
    assert isinstance(basket, shop.Basket) and type(basket).__name__ == "Basket"
    assert basket.add("pear") == 1 and len(basket) == 1
    assert basket.items == [("pear", decimal.Decimal("1.00"))]
    assert basket == basket and shop.Basket.label == "basket"
    with pytest.raises(TypeError):
        hash(basket)  # the learner's class set __hash__ = None
    basket.pop()
    with pytest.raises(shop.Empty) as caught:
        basket.pop()
    assert caught.value.what == "basket" and str(caught.value) == "basket is empty"
    assert isinstance(caught.value, shop.ShopError) and isinstance(caught.value, LookupError)
    with pytest.raises(ZeroDivisionError):
        shop.double.__call__  # noqa: B018  (attribute of a remote function, harmless)
        shop.call_back(lambda v: v / 0, 1)


def test_enums_iteration_and_generators(shop: Any) -> None:
    assert list(shop.Colour) == [shop.Colour.RED, shop.Colour.BLUE]
    assert shop.Colour("red") is shop.Colour.RED
    assert list(shop.gen(200)) == list(range(200))  # batched: a few requests, not 200


def test_callbacks_and_refused_tester_objects(shop: Any) -> None:
    assert shop.call_back(lambda v: v * 10, 4) == 41

    class Mine:
        pass

    with pytest.raises(TypeError, match="cannot be passed to the learner"):
        shop.double(Mine())


def test_printed_output_comes_back_to_the_test(shop: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert shop.shout("hi") == 2
    assert capsys.readouterr().out == "HI\n"


def test_a_hang_times_out_and_the_learner_is_restarted(shop: Any) -> None:
    basket = shop.Basket()
    with pytest.raises(bridge_client.LearnerTimeout, match="did not answer within 2 s"):
        shop.spin()
    assert shop.double(21) == 42  # a fresh learner process
    with pytest.raises(bridge_client.StaleObject):
        basket.add("x")


def test_a_crash_fails_the_call_and_the_next_one_works(shop: Any) -> None:
    with pytest.raises(bridge_client.LearnerGone, match="exited with code 7"):
        shop.crash()
    assert shop.double(2) == 4


def test_the_codec_refuses_what_it_does_not_know() -> None:
    codec = bridge_codec.Codec()
    for bad in [{"$": "pickle", "v": "x"}, {"$": "int", "v": "1e5"}, {"no": "tag"}, {"$": "bytes", "v": "***"}]:
        with pytest.raises(bridge_codec.BridgeError):
            codec.decode(bad)
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(bridge_codec.BridgeError, match="nested deeper"):
        codec.encode(deep)
    with pytest.raises(bridge_codec.BridgeError):
        bridge_codec.loads("[1, 2]")
    with pytest.raises(bridge_codec.BridgeError):
        codec.encode(object())
