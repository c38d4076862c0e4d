"""docs/challenger.md "Counts from the product's table" as a new user follows it: the page's own `aws dynamodb
update-item` example and its boto3 `add_counts` snippet (read from the page, so an edit that breaks them fails here)
write a recommender's counts into the table as the stack makes it (create_counts_table: keys, on-demand, sealed),
and `mlgov challenger status` in table mode, run as a process from outside the checkout against moto in server
mode, reads them as the gate does. A count the settings name and the recommender never writes is missing, not
zero (the run pauses), and the `aws dynamodb query` the paused finding prints returns the items to look at.

The aws CLI is run when it is on PATH; without it the same arguments go to boto3's UpdateItem/Query (the JSON and
expressions are still the page's), so the page is checked either way."""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlgov.sandbox import moto_server
from mlgov_runtime.challenger.config import COUNTS_TABLE, EXPIRES_KEY, MINUTE_KEY, SERIES_KEY, MetricNames
from tests.cli.conftest import ACCOUNT, REGION, Shell, refusal

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "challenger.md"
ENDPOINT = "manga-recommender-prod"  # the page's example series: manga-recommender-prod/challenger-v5
LEAN = "manga-recommender-lean"  # a recommender that counts neither cart adds nor distinct titles
PRODUCTION, CHALLENGER = "AllTraffic", "challenger-v5"
TABLE_MODE = {"context": {"mlgov": {"challenger": {"metrics": {"source": "table"}}}}}
WINDOW = 12  # `status --minutes`: above missing_metric_minutes (10), so a count never written pauses the look
# Minutes written around the moment the fixture runs: the window read later ([now - WINDOW - settle, now - settle))
# stays inside them unless the module takes longer than AHEAD minutes (a margin far above any slow machine's; the
# test checks it and says so rather than pass on other minutes).
BEHIND, AHEAD = WINDOW + 4, 30


def counts_the_gate_reads(names: MetricNames | None = None) -> set[str]:
    """The recommender's counts the default metric settings name (the ones table mode reads from an item)."""
    n = names or MetricNames()
    named = [n.impressions, n.clicks, n.cart_adds, n.distinct_titles, n.json_failures, n.language_mismatches]
    return {name for name in named if name}


def fenced(language: str, marker: str) -> str:
    """The one fenced block of the page in `language` that contains `marker`."""
    blocks = [b for b in re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S) if marker in b]
    assert len(blocks) == 1, f"{PAGE.name}: {len(blocks)} {language} blocks with {marker!r}"
    return str(blocks[0])


def cli_example() -> str:
    return fenced("bash", "aws dynamodb update-item")


def python_example() -> str:
    return fenced("python", "def add_counts")


def cli_words(command: str) -> dict[str, str]:
    """`--option value` pairs of one aws CLI command as the shell splits it."""
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:3] == ["aws", "dynamodb", words[2]], words[:3]
    options: dict[str, str] = {}
    rest = words[3:]
    while rest:
        option = rest.pop(0)
        assert option.startswith("--"), (option, words)
        options[option[2:]] = rest.pop(0) if rest and not rest[0].startswith("--") else ""
    return options


def cli_adds(command: str) -> dict[str, float]:
    """What one run of the page's update-item ADDs: count name -> value (expires_at is SET, not a count)."""
    options = cli_words(command)
    names = json.loads(options["expression-attribute-names"])
    values = json.loads(options["expression-attribute-values"])
    expression = options["update-expression"]
    added = re.match(r"ADD (.*?)(?: SET .*)?$", expression)
    assert added, expression
    out: dict[str, float] = {}
    for part in added.group(1).split(","):
        name, value = part.split()
        out[names[name]] = float(values[value]["N"])
    return out


def python_call_counts(block: str) -> dict[str, int]:
    """The counts the page's own `add_counts(...)` call passes."""
    calls = [
        node
        for node in ast.walk(ast.parse(block))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "add_counts"
    ]
    assert len(calls) == 1, f"{PAGE.name}: the add_counts snippet shows {len(calls)} calls"
    counts = ast.literal_eval(calls[0].args[2])
    assert isinstance(counts, dict)
    return counts


def run_aws(shell: Shell, command: str) -> str:
    """The command as a user's shell runs it (the aws CLI), or, without one here, boto3 with the same arguments."""
    if shutil.which("aws"):
        done = subprocess.run(
            ["bash", "-c", command], cwd=shell.home, env=shell.env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        return done.stdout
    options = cli_words(command)
    ddb = shell.client("dynamodb")
    operation = shlex.split(command)[2]
    if operation == "update-item":
        answer = ddb.update_item(
            TableName=options["table-name"],
            Key=json.loads(options["key"]),
            UpdateExpression=options["update-expression"],
            ExpressionAttributeNames=json.loads(options["expression-attribute-names"]),
            ExpressionAttributeValues=json.loads(options["expression-attribute-values"]),
        )
    elif operation == "query":
        answer = ddb.query(
            TableName=options["table-name"],
            KeyConditionExpression=options["key-condition-expression"],
            ExpressionAttributeValues=json.loads(options["expression-attribute-values"]),
            ScanIndexForward="no-scan-index-forward" not in options,
            Limit=int(options["max-items"]),
        )
    else:
        raise AssertionError(f"no boto3 stand-in for aws dynamodb {operation}")
    answer.pop("ResponseMetadata", None)
    return json.dumps(answer)


def evaluated(report: dict[str, Any]) -> set[str]:
    """The guardrails a look evaluated (a skipped one is listed with `evaluated` false)."""
    return {g["name"] for g in report["guardrails"] if g["statistics"].get("evaluated")}


@dataclass
class Written:
    """What the recommender wrote and SageMaker counted, per (endpoint, variant) and minute start (epoch)."""

    counts: dict[tuple[str, str], dict[int, dict[str, float]]] = field(default_factory=dict)
    invocations: dict[tuple[str, str], dict[int, int]] = field(default_factory=dict)

    def add(self, endpoint: str, variant: str, minute: int, counts: Mapping[str, float], responses: int) -> None:
        row = self.counts.setdefault((endpoint, variant), {}).setdefault(minute, {})
        for name, value in counts.items():
            row[name] = row.get(name, 0.0) + value
        calls = self.invocations.setdefault((endpoint, variant), {})
        calls[minute] = calls.get(minute, 0) + responses

    def total(self, endpoint: str, variant: str, name: str, window: dict[str, str]) -> float:
        start, end = (int(datetime.fromisoformat(window[k]).timestamp()) for k in ("start", "end"))
        minutes = self.counts[(endpoint, variant)]
        return sum(row.get(name, 0.0) for minute, row in minutes.items() if start <= minute < end)

    def covers(self, endpoint: str, window: dict[str, str]) -> bool:
        start, end = (int(datetime.fromisoformat(window[k]).timestamp()) for k in ("start", "end"))
        minutes = set(self.counts[(endpoint, PRODUCTION)]) & set(self.counts[(endpoint, CHALLENGER)])
        return all(m in minutes for m in range(start, end, 60))


@dataclass
class CountsWorld:
    shell: Shell
    written: Written


def _endpoint(sm: Any, name: str) -> None:
    """An experiment's endpoint as the challenger deploys it: production at 0.9, challenger-v5 at 0.1."""
    variants = []
    for variant, weight in ((PRODUCTION, 0.9), (CHALLENGER, 0.1)):
        model = f"{name}-{variant.lower()}"
        sm.create_model(
            ModelName=model,
            PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/manga-serving:v5"},
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/mlgov-protected/MlGovModelExecution",
        )
        variants.append(
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.g4dn.xlarge",
                "InitialVariantWeight": weight,
            }
        )
    sm.create_endpoint_config(EndpointConfigName=f"{name}-ab", ProductionVariants=variants)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-ab")


def _sagemaker_metrics(cw: Any, written: Written) -> None:
    """AWS/SageMaker's own per-variant counts for every minute written: one invocation per response."""
    data = []
    for (endpoint, variant), minutes in written.invocations.items():
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        for minute, n in minutes.items():
            at = datetime.fromtimestamp(minute + 30, UTC)
            for metric, value in (("Invocations", n), ("Invocation4XXErrors", 0), ("Invocation5XXErrors", 0)):
                data.append({"MetricName": metric, "Dimensions": dims, "Timestamp": at, "Value": value})
            latency = {"SampleCount": n, "Sum": n * 180.0, "Minimum": 180.0, "Maximum": 180.0}
            data.append({"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": at, "StatisticValues": latency})
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[i : i + 500])


DRIVER = """
import json, sys, time
block, plan = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
time.time = lambda: plan["example_minute"] + 7.25  # the page's own call writes in this minute
scope = {}
exec(compile(block, "docs/challenger.md", "exec"), scope)
for minute, endpoint, variant, counts in plan["calls"]:
    time.time = lambda m=minute: m + 31.5
    scope["add_counts"](endpoint, variant, counts)
"""


def _run_python_example(shell: Shell, example_minute: int, calls: list[list[Any]]) -> None:
    """The page's boto3 snippet as the user's process runs it (boto3 takes AWS_ENDPOINT_URL from the environment),
    its clock set to each minute written."""
    (shell.home / "add_counts.py").write_text(python_example())
    (shell.home / "plan.json").write_text(json.dumps({"example_minute": example_minute, "calls": calls}))
    (shell.home / "driver.py").write_text(DRIVER)
    done = subprocess.run(
        [sys.executable, "driver.py", "add_counts.py", "plan.json"],
        cwd=shell.home,
        env=shell.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def counts_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountsWorld]:
    from mlgov.challenger_estate import create_counts_table

    home = tmp_path_factory.mktemp("table-mode-user")
    (home / "cdk.json").write_text(json.dumps(TABLE_MODE))
    with moto_server(timeout=120) as server:
        shell = Shell(server.url, home)
        sm = shell.client("sagemaker")
        for name in (ENDPOINT, LEAN):
            _endpoint(sm, name)
        create_counts_table(shell.client("dynamodb"))  # as the stack makes it: keys, on-demand, sealed

        now = int(datetime.now(UTC).timestamp()) // 60 * 60
        minutes = [now + 60 * k for k in range(-BEHIND, AHEAD)]
        written = Written()

        # The challenger: one response a minute, the page's aws CLI example with its minute; one minute twice (ADD).
        example = cli_example()
        [shown_minute] = re.findall(r'"minute": \{"N": "(\d+)"\}', example)
        adds = cli_adds(example)
        for minute in [*minutes, minutes[3]]:
            run_aws(shell, example.replace(f'"{shown_minute}"', f'"{minute}"'))
            written.add(ENDPOINT, CHALLENGER, minute, adds, 1)

        # Production: nine responses a minute through the page's add_counts; its own example call adds one more
        # response of the challenger (in the first minute, before the window read).
        production = {
            "RecommendationImpressions": 45,
            "RecommendationClicks": 9,
            "RecommendationCartAdds": 0,
            "RecommendationDistinctTitles": 36,
            "RecommendationJsonFailures": 0,
            "RecommendationLanguageMismatches": 0,
        }
        lean = {
            k: v for k, v in production.items() if k not in ("RecommendationCartAdds", "RecommendationDistinctTitles")
        }
        lean_challenger = {**{k: v // 9 for k, v in lean.items()}}
        calls: list[list[Any]] = []
        for minute in minutes:
            calls.append([minute, ENDPOINT, PRODUCTION, production])
            written.add(ENDPOINT, PRODUCTION, minute, production, 9)
            calls.append([minute, LEAN, PRODUCTION, lean])
            written.add(LEAN, PRODUCTION, minute, lean, 9)
            calls.append([minute, LEAN, CHALLENGER, lean_challenger])
            written.add(LEAN, CHALLENGER, minute, lean_challenger, 1)
        _run_python_example(shell, minutes[0], calls)
        written.add(ENDPOINT, CHALLENGER, minutes[0], python_call_counts(python_example()), 1)

        _sagemaker_metrics(shell.client("cloudwatch"), written)
        yield CountsWorld(shell, written)


def test_the_examples_write_every_count_the_default_settings_name() -> None:
    """An example that leaves out a count the gate reads (cart adds, distinct titles) pauses every run it feeds."""
    needed = counts_the_gate_reads()
    assert set(cli_adds(cli_example())) == needed
    assert set(python_call_counts(python_example())) == needed
    table = PAGE.read_text(encoding="utf-8").split("One item per variant and minute:", 1)[1].split("```", 1)[0]
    assert {name for name in needed if f"`{name}`" in table} == needed, "the item's table lists every count"


def test_the_cli_examples_minute_and_expiry_are_what_the_table_says() -> None:
    from mlgov_runtime.challenger.inputs import DecisionConfig

    options = cli_words(cli_example())
    assert options["table-name"] == COUNTS_TABLE
    key = json.loads(options["key"])
    assert set(key) == {SERIES_KEY, MINUTE_KEY}
    assert key[SERIES_KEY]["S"] == f"{ENDPOINT}/{CHALLENGER}"
    minute = int(key[MINUTE_KEY]["N"])
    assert minute % 60 == 0, "epoch seconds of the minute's start (a multiple of 60)"
    names = json.loads(options["expression-attribute-names"])
    values = json.loads(options["expression-attribute-values"])
    kept = re.search(r"SET (#\w+) = if_not_exists\(\1, (:\w+)\)", options["update-expression"])
    assert kept, options["update-expression"]
    assert names[kept[1]] == EXPIRES_KEY
    expires = int(values[kept[2]]["N"])
    assert expires - minute >= DecisionConfig().max_minutes * 60 + 86400, "keep at least max_minutes plus a day"


def test_status_in_table_mode_reads_what_the_pages_examples_wrote(counts_world: CountsWorld) -> None:
    shell, written = counts_world.shell, counts_world.written
    done = shell.run("challenger", "status", "--endpoint", ENDPOINT, "--minutes", str(WINDOW), "--format", "json")
    assert "Traceback" not in done.stderr and "unexpected failure" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    window = report["window"]
    assert written.covers(ENDPOINT, window), f"writing took longer than {AHEAD} minutes: {window}"
    assert done.returncode == 0, (done.returncode, report["decision"], report["reasons"])
    statistics = report["statistics"]
    assert statistics["counts_source"] == COUNTS_TABLE
    assert not statistics.get("data_problem") and not statistics.get("counts_table_problems"), statistics
    assert statistics["aligned_minutes"] == WINDOW == statistics["window_minutes"]
    assert report["decision"] == "CONTINUE", report["reasons"]
    for side, variant in (("production", PRODUCTION), ("challenger", CHALLENGER)):
        for key, name in (("impressions", "RecommendationImpressions"), ("clicks", "RecommendationClicks")):
            assert report["variants"][side][key] == written.total(ENDPOINT, variant, name, window), (side, key)
    # Every guardrail the settings configure was evaluated on the table's counts, none missing.
    assert {"cart_add_rate", "recommendation_diversity", "json_failure_rate", "language_fidelity"} <= evaluated(report)


def test_an_item_without_cart_adds_or_distinct_titles_is_missing_not_zero(counts_world: CountsWorld) -> None:
    """manga-recommender-lean's recommender writes four counts: with the default settings the run pauses (exit 3)
    naming the two counts for both variants; impressions and clicks are still read."""
    shell = counts_world.shell
    done = shell.run("challenger", "status", "--endpoint", LEAN, "--minutes", str(WINDOW), "--format", "json")
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert done.returncode == 3 and report["decision"] == "PAUSED", report["reasons"]
    missing = {(m["variant"], m["metric"]) for m in report["statistics"]["data_problem"]["missing"]}
    assert missing == {(v, m) for v in ("production", "challenger") for m in ("cart_adds", "distinct_titles")}
    assert report["variants"]["production"]["impressions"] > 0

    # As the page says: a recommender that does not count them sets both to null, and the look judges again.
    lean_settings = {"challenger": {"metrics": {"source": "table", "cart_adds": None, "distinct_titles": None}}}
    (shell.home / "lean.json").write_text(json.dumps({"context": {"mlgov": lean_settings}}))
    done = shell.run(
        "challenger",
        "status",
        "--endpoint",
        LEAN,
        "--minutes",
        str(WINDOW),
        "--format",
        "json",
        "--config",
        "lean.json",
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["decision"] == "CONTINUE", (done.stderr, report["reasons"])
    assert not {"cart_add_rate", "recommendation_diversity"} & evaluated(report), report["guardrails"]
    assert {"json_failure_rate", "language_fidelity"} <= evaluated(report)


def test_the_paused_findings_query_is_valid_aws_cli_and_returns_the_newest_items(counts_world: CountsWorld) -> None:
    from mlgov_runtime.challenger.findings import data_missing_finding

    shell = counts_world.shell
    done = shell.run("challenger", "status", "--endpoint", LEAN, "--minutes", str(WINDOW), "--format", "json")
    report = json.loads(done.stdout)
    ch = {
        "endpoint_name": LEAN,
        "model_package_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/manga-recommender/5",
        "production_variant": PRODUCTION,
        "challenger_variant": CHALLENGER,
        "traffic_fraction": 0.1,
    }
    finding = data_missing_finding(ch, report, ACCOUNT, REGION)
    commands = [c for c in re.findall(r"`([^`]+)`", finding.detail) if c.startswith("aws dynamodb query")]
    assert len(commands) == 1, finding.detail
    items = json.loads(run_aws(shell, commands[0]))["Items"]
    minutes = [int(item[MINUTE_KEY]["N"]) for item in items]
    assert len(items) == 5 and minutes == sorted(minutes, reverse=True), minutes  # the newest minutes first
    newest = max(counts_world.written.counts[(LEAN, PRODUCTION)])
    assert minutes[0] == newest
    assert {item[SERIES_KEY]["S"] for item in items} == {f"{LEAN}/{PRODUCTION}"}
    # What the user is to see: the items lack the count the finding says is missing.
    assert all("RecommendationCartAdds" not in item and "RecommendationImpressions" in item for item in items)


def test_the_retained_tables_deletion_commands_run(nothing_deployed: Shell) -> None:
    """ "The table is retained" (deletion protection): the page's two commands delete it, in this order."""
    from mlgov.challenger_estate import create_counts_table

    text = " ".join(
        PAGE.read_text(encoding="utf-8").split("**The table is retained**", 1)[1].split("\n\n", 1)[0].split()
    )
    commands = re.findall(r"`(aws dynamodb [^`]+)`", text)
    assert [c.split()[2] for c in commands] == ["update-table", "delete-table"], commands
    ddb = nothing_deployed.client("dynamodb")
    create_counts_table(ddb)
    ddb.update_table(TableName=COUNTS_TABLE, DeletionProtectionEnabled=True)
    try:
        for command in commands:
            command = command.replace("...", f"--table-name {COUNTS_TABLE}")
            if shutil.which("aws"):
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=nothing_deployed.home,
                    env=nothing_deployed.env(),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, f"{command}\n{done.stderr}"
            else:
                options = cli_words(command)
                if command.split()[2] == "update-table":
                    assert "no-deletion-protection-enabled" in options
                    ddb.update_table(TableName=options["table-name"], DeletionProtectionEnabled=False)
                else:
                    ddb.delete_table(TableName=options["table-name"])
        assert COUNTS_TABLE not in ddb.list_tables()["TableNames"]
    finally:
        if COUNTS_TABLE in ddb.list_tables()["TableNames"]:
            ddb.update_table(TableName=COUNTS_TABLE, DeletionProtectionEnabled=False)
            ddb.delete_table(TableName=COUNTS_TABLE)


def _ramp_examples() -> dict[str, list[list[float]]]:
    """The page's two ramp schedules: the `challenger.ramp` example and the fast schedule."""
    text = PAGE.read_text(encoding="utf-8").split("## Traffic ramp (optional)", 1)[1]
    example = re.search(r"`challenger\.ramp` \(default off\), e\.g\. `(\[\[.*?\]\])`", text)
    fast = re.search(r"\*\*The fast schedule\*\* `(\[\[.*?\]\])`", text)
    assert example and fast, "the ramp section shows its two schedules"
    return {"example": json.loads(example[1]), "fast": json.loads(fast[1])}


# The weight each look (minutes 5, 10, 15, 20, 25 after the deploy) moves the challenger to, None: no step.
STEPS = {"example": [None, None, 0.25, None, 0.5], "fast": [0.25, 0.5, None, None, None]}


@pytest.mark.parametrize("schedule", sorted(STEPS))
def test_the_pages_ramp_schedules_load_and_step_at_the_looks_it_says(schedule: str) -> None:
    """Each schedule loads as a setting (a ramp turns the front-loaded test on at 0.6); the fast one moves the
    challenger to 25 % at the first look (about minute 5) and to 50 % at the look at minute 10; the example's
    steps come at the looks after minutes 10 and 20."""
    from mlgov.settings import parse_settings
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import config_from_dict

    ramp = _ramp_examples()[schedule]
    settings = parse_settings({"challenger": {"ramp": ramp}})
    cfg = config_from_dict(settings.challenger.runtime_config(settings.thresholds))
    assert cfg.decision.ctr_early_share == 0.6 and [list(step) for step in cfg.decision.ramp] == ramp

    class Endpoints:
        def set_weights(self, endpoint: str, weights: dict[str, float]) -> None:
            pass

    ports: Any = type("Ports", (), {"endpoints": Endpoints()})()
    ch = {"endpoint_name": ENDPOINT, "production_variant": PRODUCTION, "challenger_variant": CHALLENGER}
    deployed = datetime(2026, 12, 7, 9, 0, 20, tzinfo=UTC)
    history: list[list[float]] = [[0, 0.1]]
    quiet = {"decision": "CONTINUE", "result": {"guardrails": []}}
    weights = []
    for look in (5, 10, 15, 20, 25):  # the state machine looks every 5 minutes from the deploy
        now = deployed.replace(minute=look)
        weights.append(logic.ramp_step(ports, cfg, ch, deployed, now, history, quiet).get("ramped_to"))
    assert weights == STEPS[schedule]


def _campaign_example() -> str:
    text = (ROOT / "docs" / "capacity.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if "mlgov capacity campaign " in b]
    assert len(blocks) == 1, blocks
    return " ".join(blocks[0].replace("\\\n", " ").split())


def _moved(command: str, weeks: int) -> str:
    """The example with its dates moved by whole weeks: the same weekday, times and offset."""

    def move(match: re.Match[str]) -> str:
        return (datetime.fromisoformat(match[1]) + timedelta(weeks=weeks)).isoformat(timespec="minutes")

    return re.sub(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[+-]\d{2}:\d{2})", move, command)


def test_the_campaign_example_is_refused_once_past_as_the_page_says(estate: Shell) -> None:
    """docs/capacity.md's campaign example names a fixed Monday: once its scale-out has passed, the dry run is
    refused naming the restore that scales now; on coming dates the same command gets past the window (the
    estate's manga-recommender-prod has no scalable target yet: the next refusal says to restore first)."""
    example = _campaign_example()
    now = datetime.now(UTC)
    start = datetime.fromisoformat(re.findall(r"--start (\S+)", example)[0])
    behind = max(1, (now - start).days // 7 + 1)  # whole weeks that put the example's start in the future
    past = refusal(estate.run(*shlex.split(_moved(example, -52))[1:]))
    assert "is not in the future" in past and "mlgov capacity restore --endpoint manga-recommender-prod --min" in past
    coming = refusal(estate.run(*shlex.split(_moved(example, behind))[1:]))
    assert "is not in the future" not in coming and "has no scalable target" in coming, coming
    assert "--dry-run" in example and "give coming ones" in (ROOT / "docs" / "capacity.md").read_text()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_deploys_emulator_block_runs_as_written(tmp_path: Path) -> None:
    """docs/deploy.md "On your machine, against an emulator": the block's emulator answers, `mlgov audit` says
    "0 endpoints" (exit 0); an endpoint whose model has no ModelPackageName is UNREGISTERED (exit 3); an address
    where nothing answers is one line naming it (exit 1)."""
    import time
    import urllib.error
    import urllib.request

    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if "mlgov.emulator" in b]
    lines = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    start, *exports, audit = lines
    assert start.startswith(".venv/bin/python -m mlgov.emulator") and start.endswith("&") and audit == "mlgov audit"
    port = _free_port()
    argv = shlex.split(start.rstrip("& "))[1:]
    argv[argv.index("-p") + 1] = str(port)  # the page's 5000, or a free one here
    env: dict[str, str] = {}
    for line in exports:
        for word in shlex.split(line)[1:]:
            key, value = word.split("=", 1)
            env[key] = value.replace(":5000", f":{port}")
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    shell = Shell(env["AWS_ENDPOINT_URL"], tmp_path)
    # Only what the page exports reaches AWS: no credentials or region from elsewhere.
    base = {k: v for k, v in shell.env().items() if not k.startswith("AWS_") or k.endswith("_FILE")}

    def mlgov(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mlgov.cli", *args]
        return subprocess.run(command, cwd=tmp_path, env={**base, **env}, capture_output=True, text=True, timeout=600)

    server = subprocess.Popen(
        [sys.executable, *argv], cwd=tmp_path, env=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(600):  # "answers after a few seconds"
            try:
                urllib.request.urlopen(env["AWS_ENDPOINT_URL"], timeout=2)
                break
            except urllib.error.HTTPError:  # an answer all the same
                break
            except OSError:
                assert server.poll() is None, "the emulator exited"
                time.sleep(0.2)
        done = mlgov("audit")
        assert done.returncode == 0 and "0 endpoints" in done.stdout, (done.returncode, done.stdout, done.stderr)

        sm = shell.client("sagemaker")
        sm.create_model(
            ModelName="raw",
            PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/manga-serving:raw"},
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        )
        variant = {"VariantName": "AllTraffic", "ModelName": "raw", "InitialInstanceCount": 1}
        sm.create_endpoint_config(
            EndpointConfigName="raw", ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
        )
        sm.create_endpoint(EndpointName="raw", EndpointConfigName="raw")
        done = mlgov("audit")
        assert done.returncode == 3 and "UNREGISTERED" in done.stdout, (done.returncode, done.stdout, done.stderr)

        nowhere = f"http://127.0.0.1:{_free_port()}"
        done = mlgov("audit", "--endpoint-url", nowhere)
        errors = [line for line in done.stderr.splitlines() if line.startswith("mlgov: error:")]
        assert done.returncode == 1 and len(errors) == 1 and nowhere in errors[0], done.stderr
    finally:
        server.terminate()
        server.wait(timeout=60)


# Options every aws CLI command takes, and the high-level commands the CLI adds to a service (not API operations).
AWS_CLI_GLOBALS = {"region", "output", "query", "endpoint-url", "profile", "max-items", "page-size", "starting-token"}
AWS_CLI_COMMANDS = {("s3", "cp"), ("s3", "ls"), ("s3", "sync"), ("configure", "list-profiles")}


def aws_commands() -> list[tuple[str, str]]:
    """(page, command) for every `aws ...` command of the README and docs/, fenced lines and inline code."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, re.S)
        lines = [line for b in blocks for line in b.replace("\\\n", " ").splitlines() if line.startswith("aws ")]
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        lines += re.findall(r"`(aws [a-z0-9-]+ [a-z0-9-]+[^`]*)`", prose)
        found += [(page.name, " ".join(line.split())) for line in lines]
    return found


def printed_aws_commands() -> list[tuple[str, str]]:
    """(file, command) for the `aws ...` next steps the product prints (findings, refusals, CLI output), as far as
    one string literal of the source holds them (the options there are checked; placeholders are values)."""
    found = []
    for source in sorted([*(ROOT / "lambdas" / "mlgov_runtime").rglob("*.py"), *(ROOT / "mlgov").rglob("*.py")]):
        text = source.read_text(encoding="utf-8")
        for command in re.findall(r"`(aws [a-z0-9-]+ [a-z0-9-]+[^`\"]*)", text):
            found.append((source.relative_to(ROOT).as_posix(), " ".join(command.split())))
    return sorted(set(found))


def _check_aws_command(page: str, command: str) -> None:
    import botocore.session
    from botocore import xform_name

    words = command.split("|", 1)[0].split()
    service, operation, rest = words[1], re.match(r"[a-z0-9-]+", words[2])[0], words[3:]  # type: ignore[index]
    if (service, operation) in AWS_CLI_COMMANDS:
        return
    model = botocore.session.get_session().get_service_model({"s3api": "s3"}.get(service, service))
    names = {xform_name(op).replace("_", "-"): op for op in model.operation_names}
    assert operation in names, f"{page}: `{command}`: aws {service} has no {operation}"
    shape = model.operation_model(names[operation]).input_shape
    members = {xform_name(m).replace("_", "-") for m in (shape.members if shape else {})}
    options = {w[2:] for w in rest if w.startswith("--")}
    unknown = {o for o in options if o not in members | AWS_CLI_GLOBALS and o.removeprefix("no-") not in members}
    assert unknown == set(), f"{page}: `{command}`: aws {service} {operation} takes no --{', --'.join(sorted(unknown))}"


@pytest.mark.parametrize(("page", "command"), aws_commands(), ids=lambda v: str(v)[:80])
def test_every_aws_command_the_pages_show_is_one_the_aws_cli_takes(page: str, command: str) -> None:
    """A real service and operation, and only options that operation (or the CLI) takes, per botocore's models
    (what the aws CLI builds its options from): a mistyped option or operation fails here."""
    _check_aws_command(page, command)


@pytest.mark.parametrize(("source", "command"), printed_aws_commands(), ids=lambda v: str(v)[:80])
def test_every_aws_command_the_product_prints_is_one_the_aws_cli_takes(source: str, command: str) -> None:
    _check_aws_command(source, command)


def test_the_printed_commands_are_found() -> None:
    printed = printed_aws_commands()
    assert len(printed) >= 20 and any("aws dynamodb query" in c for _, c in printed), printed


def test_status_on_a_table_without_the_products_policy_is_an_error_not_a_verdict(counts_world: CountsWorld) -> None:
    """The page: a table with no policy fails the look naming the table and what is wrong; `status` prints it as an
    error, exit 1, never a verdict. (The seal is put back afterwards.)"""
    from mlgov.challenger_estate import seal_counts_table

    shell = counts_world.shell
    ddb = shell.client("dynamodb")
    arn = ddb.describe_table(TableName=COUNTS_TABLE)["Table"]["TableArn"]
    ddb.delete_resource_policy(ResourceArn=arn)
    try:
        done = shell.run("challenger", "status", "--endpoint", ENDPOINT, "--minutes", str(WINDOW), "--format", "json")
    finally:
        seal_counts_table(ddb)
    assert done.returncode == 1 and done.stdout == "", (done.returncode, done.stdout[-300:])
    assert "Traceback" not in done.stderr and "unexpected failure" not in done.stderr, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("mlgov: error: ") and COUNTS_TABLE in line and "it has no resource policy" in line, line
    assert "never import it" in line


def test_status_reads_the_table_only_with_settings_that_say_so(counts_world: CountsWorld) -> None:
    """The page: `status` reads the table when its settings say `table` (./cdk.json or --config); with none it reads
    CloudWatch, where the recommender wrote nothing: every count is missing (exit 3, PAUSED), never zero."""
    shell = counts_world.shell
    elsewhere = shell.home / "elsewhere"
    elsewhere.mkdir(exist_ok=True)

    def status(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = ["challenger", "status", "--endpoint", ENDPOINT, "--minutes", str(WINDOW), "--format", "json", *extra]
        command = [sys.executable, "-m", "mlgov.cli", *argv]
        return subprocess.run(command, cwd=elsewhere, env=shell.env(), capture_output=True, text=True, timeout=600)

    done = status()
    report = json.loads(done.stdout)
    assert done.returncode == 3 and report["decision"] == "PAUSED", (done.stderr, report["reasons"])
    assert report["variants"]["challenger"]["impressions"] is None  # missing, not zero
    assert "counts_source" not in report["statistics"]

    done = status("--config", str(shell.home / "cdk.json"))
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["statistics"]["counts_source"] == COUNTS_TABLE, done.stderr
