"""The `kproof` command: up, down, status, run, report, lint."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import yaml
from rich.console import Console

from kproof import __version__, produce, report
from kproof.embedded import PlatformError, ReferenceProcess, read_endpoints, readiness
from kproof.html_report import write_html_report
from kproof.postgres import LocalPostgres
from kproof.run import RunOptions, run
from kproof.target import Target
from reference.processes import StateDirBusy, describe, private_dir, stop_leftovers

DEFAULT_STATE_DIR = Path(".kproof")
console = Console(soft_wrap=True)


def _print_access(state_dir: Path, api: str, ingress: str | None) -> None:
    kubeconfig = state_dir / "kubeconfig"
    console.print(f"API server:  {api}")
    console.print(f"ingress:     {ingress or '(not running)'}")
    console.print(f"kubeconfig:  {kubeconfig}")
    console.print(f"\nPoint kubectl at it:\n  export KUBECONFIG={kubeconfig}\n  kubectl get ksvc")


def _node_file_problem(path: Path | None) -> str | None:
    """What is wrong with a node file, checked before anything starts."""
    if path is None:
        return None
    from reference.runtime.devices import discover
    from reference.runtime.nodes import NodeFileError, load_node_file

    try:
        load_node_file(path, discover())
    except NodeFileError as err:
        return str(err)
    return None


def _images_problem(paths: list[Path] | None) -> str | None:
    """What is wrong with an image catalog given to `--images`, checked before anything starts."""
    from reference.runtime.catalog import Catalog, CatalogError

    try:
        Catalog.load(*(paths or []))
    except CatalogError as err:
        return str(err)
    return None


def _stop_leftovers(state_dir: Path) -> bool:
    """Stops what a killed platform left running on `state_dir`; False while that platform still runs."""
    try:
        stopped = stop_leftovers(state_dir)
    except StateDirBusy as err:
        console.print(f"[red]{err}[/red]")
        return False
    if stopped:
        console.print(f"stopped what a killed platform left running on {state_dir}: {describe(stopped)}")
    return True


def cmd_up(args: argparse.Namespace) -> int:
    state_dir = args.state_dir.resolve()
    running = read_endpoints(state_dir)
    if running:
        console.print(f"a reference already runs on {state_dir} (pid {running.pid})")
        if args.images or args.nodes:
            console.print("[yellow]--images and --nodes apply from the next start: `kproof down` first[/yellow]")
        _print_access(state_dir, running.api, running.ingress)
        return 0
    problem = _node_file_problem(args.nodes)
    if problem:
        console.print(f"[red]node file: {problem}[/red]")
        return 2
    problem = _images_problem(args.images)
    if problem:
        console.print(f"[red]image catalog: {problem}[/red]")
        return 2
    private_dir(state_dir)  # before PostgreSQL chooses where its data goes
    if not _stop_leftovers(state_dir):
        return 1
    if args.detach:
        process = ReferenceProcess(state_dir, args.host, args.api_port, args.kafka_bootstrap, args.nodes,
                                   tuple(args.images or ()))
        with console.status("starting the reference platform"):
            try:
                endpoints = process.start()
            except PlatformError as err:
                console.print(f"[red]{err}[/red]")
                return 1
        console.print(f"reference platform running (pid {endpoints.pid}); stop it with "
                      f"`kproof down --state-dir {args.state_dir}`; log: {process.log_path}")
        _print_access(state_dir, endpoints.api, endpoints.ingress)
        return _start_postgres(state_dir) if args.postgres else 0
    if args.postgres and _start_postgres(state_dir):
        return 1
    return _run_foreground(state_dir, args)


def _start_postgres(state_dir: Path) -> int:
    """The private PostgreSQL of `--postgres` (seed 002's pipeline), beside the platform."""
    from kproof.postgres import LocalPostgres, PostgresUnavailable

    try:
        with console.status("starting PostgreSQL"):
            dsn = LocalPostgres(state_dir).ensure()
    except PostgresUnavailable as err:
        console.print(f"[red]{err}[/red]")
        return 1
    console.print(f"PostgreSQL:  {dsn}")
    return 0


def _run_foreground(state_dir: Path, args: argparse.Namespace) -> int:
    from reference.platform import Platform, PlatformConfig

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        platform = Platform(PlatformConfig(state_dir, args.host, args.api_port, images=list(args.images or []),
                                           kafka_bootstrap=args.kafka_bootstrap, nodes=args.nodes))
        await platform.start()
        _print_access(state_dir, platform.endpoints["api"], platform.endpoints.get("ingress"))
        console.print("\nrunning in the foreground; Ctrl-C stops it")
        try:
            await stop.wait()
        finally:
            await platform.stop()

    asyncio.run(main())
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stops the platform, and everything recorded on its state directory: what a platform that was
    killed left running too, the embedded Kafka and the private PostgreSQL."""
    from reference.kafka.embedded import EmbeddedKafka

    state_dir = args.state_dir.resolve()
    endpoints = read_endpoints(state_dir)
    kafka = EmbeddedKafka(state_dir).running()
    with console.status(f"stopping the reference (pid {endpoints.pid})" if endpoints else "stopping leftovers"):
        left = ReferenceProcess(state_dir).stop()
    if left:
        console.print(f"stopped what was left running on {state_dir}: {describe(left)}")
    if endpoints is None and kafka:
        console.print(f"stopped the embedded Kafka (pid {kafka['pid']})")
    if endpoints is None and not left:
        console.print(f"no reference runs on {state_dir}")
        return 0
    console.print("stopped; its objects stay in the state directory for the next `kproof up`")
    return 0


def status_of(state_dir: Path) -> dict:
    endpoints = read_endpoints(state_dir)
    status = {
        "running": endpoints is not None,
        "state_dir": str(state_dir),
        "kubeconfig": str(state_dir / "kubeconfig") if (state_dir / "kubeconfig").exists() else None,
        "api": endpoints.api if endpoints else None,
        "ingress": endpoints.ingress if endpoints else None,
        "kafka": endpoints.kafka if endpoints else None,
        "postgres": (LocalPostgres(state_dir).running() or {}).get("dsn"),
        "pid": endpoints.pid if endpoints else None,
        "components": {},
        **(endpoints.containment if endpoints else {}),
    }
    if endpoints:
        try:
            status["components"] = readiness(endpoints)
        except OSError as err:
            status["components"] = {"apiserver": f"unreachable: {err}"}
    return status


def cmd_status(args: argparse.Namespace) -> int:
    status = status_of(args.state_dir.resolve())
    if args.field:
        print(status.get(args.field) or "")
        return 0 if status["running"] else 1
    if args.json:
        print(json.dumps(status, indent=2))
    elif not status["running"]:
        console.print(f"no reference runs on {status['state_dir']}")
    else:
        console.print(f"running (pid {status['pid']})")
        for key in ("api", "ingress", "kafka", "postgres", "kubeconfig", "sandbox", "limits", "network"):
            console.print(f"{key + ':':12} {status.get(key) or '-'}")
        for name, health in status["components"].items():
            color = "green" if health == "ok" else "red"
            console.print(f"  {name:26} [{color}]{health}[/{color}]")
    healthy = all(h == "ok" for h in status["components"].values())
    return 0 if status["running"] and healthy else 1


def cmd_run(args: argparse.Namespace) -> int:
    if bool(args.kubeconfig) != bool(args.ingress):
        console.print("[red]name a target with both --kubeconfig and --ingress (or neither for the "
                      "embedded reference)[/red]")
        return 2
    options = RunOptions(reports=args.reports, kubeconfig=args.kubeconfig, ingress=args.ingress,
                         domain=args.domain, capabilities=args.capability or [], select=args.select,
                         kafka_bootstrap=args.kafka_bootstrap,
                         areas=args.area or [], load=args.load)
    return run(options, console)


def cmd_lint(args: argparse.Namespace) -> int:
    from kproof.lint.command import run as lint

    return lint(args.paths, fmt=args.format, output=args.output, startup=args.startup,
                response_seconds=args.response_seconds, fix=args.fix)


def cmd_report(args: argparse.Namespace) -> int:
    if not (args.reports / "junit.xml").exists():
        console.print(f"[red]no {args.reports}/junit.xml: run `kproof run` first[/red]")
        return 1
    results = report.write_report(args.reports, console)
    write_html_report(args.reports, results, console)
    return 1 if any(r.failed for r in results) else 0


def _target_of(args: argparse.Namespace):
    from kproof.target import Target

    if args.kubeconfig:
        return Target(kubeconfig=args.kubeconfig, ingress=args.ingress)
    endpoints = read_endpoints(args.state_dir.resolve())
    if endpoints is None:
        return None
    return Target(kubeconfig=args.state_dir.resolve() / "kubeconfig", ingress=endpoints.ingress)


def cmd_load(args: argparse.Namespace) -> int:
    from load.distributed import free_port, remote_worker_command
    from load.runner import LOCUSTFILES, run_scenario
    from load.web_ui import run_web_ui

    target = _target_of(args)
    if args.scenario == "kafka_producer":
        return _load_kafka(args, target)
    if not args.service:
        console.print("[red]--service names the Knative Service to load[/red]")
        return 2
    if target is None or not target.ingress:
        console.print("[red]no target: start one with `kproof up --detach`, or give --kubeconfig and --ingress[/red]")
        return 2
    if not (LOCUSTFILES / f"{args.scenario}.py").exists():
        console.print(f"[red]no scenario {args.scenario!r} in {LOCUSTFILES}[/red]")
        return 2
    host = target.service_host(args.service, args.namespace)
    if args.workers < 1:
        console.print("[red]--workers counts Locust processes: 1 or more[/red]")
        return 2
    if args.web:
        master_port = free_port() if args.workers > 1 else 0
        console.print(f"Locust's web UI on http://127.0.0.1:{args.web_port} (Ctrl-C stops it); "
                      f"requests go to {target.ingress} with Host {host}; its Knative tab watches {args.service}")
        if args.workers > 1:
            console.print(f"a master and {args.workers} workers; more from other machines (in a checkout of kproof"
                          + (", once this runs with --master-bind 0.0.0.0" if args.master_bind == "127.0.0.1" else "")
                          + "): " + remote_worker_command(LOCUSTFILES / f"{args.scenario}.py", master_port,
                                                          args.master_bind))
        return run_web_ui(target, args.scenario, args.service, args.namespace, path=args.path,
                          web_port=args.web_port, workers=args.workers, master_port=master_port,
                          master_bind=args.master_bind)
    with console.status(f"running {args.scenario} against {host}"
                        + (f" with {args.workers} Locust workers" if args.workers > 1 else "")):
        result = run_scenario(target, args.scenario, args.service, args.namespace, users=args.users,
                              run_time=args.run_time if args.scenario in ("steady", "inference") else "",
                              path=args.path,
                              reports=args.reports, workers=args.workers)
    console.print(f"{result.requests} requests, {result.failures} failed, {result.rps:.1f}/s, "
                  f"p50 {result.median_ms:.0f} ms, p95 {result.p95_ms:.0f} ms, up to {result.max_ready} ready replicas")
    console.print(f"report: {result.directory}/ (chart.png, replicas.csv, Locust's CSVs)")
    return 1 if result.failures else 0


def _load_kafka(args: argparse.Namespace, target: Target | None) -> int:
    """Seed 001's producer: --rate messages a second into --topic for --duration seconds; with --service,
    the replicas of the Service its KafkaSource feeds are charted too."""
    from load.runner import run_producer

    endpoints = read_endpoints(args.state_dir.resolve())
    bootstrap = args.bootstrap or (endpoints.kafka if endpoints else None) or os.environ.get("KPROOF_KAFKA_BOOTSTRAP")
    if not bootstrap:
        console.print("[red]no Kafka: give --bootstrap, or start the reference with `kproof up --detach`[/red]")
        return 2
    watch = (target, args.service, args.namespace) if args.service and target is not None else None
    with console.status(f"producing {args.rate:g}/s into {args.topic} for {args.duration:g}s"):
        result = run_producer(bootstrap, args.topic, rate=args.rate, duration=args.duration, reports=args.reports,
                              watch=watch)
    console.print(f"{result.requests} messages, {result.failures} failed, {result.rps:.1f}/s, "
                  f"p50 {result.median_ms:.0f} ms, p95 {result.p95_ms:.0f} ms to the broker's ack"
                  + (f", up to {result.max_ready} ready replicas of {args.service}" if watch else ""))
    console.print(f"report: {result.directory}/")
    return 1 if result.failures else 0


def cmd_models(args: argparse.Namespace) -> int:
    """Writes the intent model into a directory, or into a claim of the running reference."""
    from reference.apps.models.loader import prepare
    from reference.runtime.volumes import claim_directory

    if bool(args.directory) == bool(args.claim):
        console.print("[red]give a DIRECTORY or --claim NAMESPACE/NAME[/red]")
        return 2
    directory = args.directory
    if args.claim:
        namespace, _, name = args.claim.partition("/")
        if not name:
            console.print("[red]--claim takes NAMESPACE/NAME[/red]")
            return 2
        directory = claim_directory(args.state_dir.resolve(), namespace, name)
    with console.status(f"preparing the intent model in {directory}"):
        about = prepare(directory)
    console.print(f"intent model in {directory / 'intent'}: held-out accuracy {about['accuracy']:.3f} "
                  f"({about['held_out']} utterances; trained on {about['trained_on']})")
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    """Runs a Benthos-style stream config to its end; exit 1 when a row was not written."""
    from kproof.pipeline.config import ConfigError, load
    from kproof.pipeline.runner import run as run_stream

    try:
        config = load(args.config)
    except ConfigError as err:
        console.print(f"[red]{args.config}: {err}[/red]")
        return 2

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_stream(config, progress=console.print, stop=stop)

    try:
        report = asyncio.run(main())
    except OSError as err:  # the database or the service cannot be reached at all
        console.print(f"[red]{args.config}: {err}[/red]")
        return 1
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"[red]  {reason}[/red]")
    return 0 if report.ok else 1


def cmd_tweets(args: argparse.Namespace) -> int:
    from kproof.pipeline.tweets import write

    console.print(f"wrote {args.rows} tweets to {write(args.out, args.rows)}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from kproof import simulate
    from reference.autoscaler.config import AutoscalerConfig

    annotations, container_concurrency = simulate.service_settings(args.service)
    for item in args.annotation or []:
        key, _, value = item.partition("=")
        annotations[key if "/" in key else f"autoscaling.knative.dev/{key}"] = value
    if args.container_concurrency is not None:
        container_concurrency = args.container_concurrency
    settings: dict[str, str] = {}
    if args.config:
        doc = yaml.safe_load(args.config.read_text()) or {}
        settings.update(doc.get("data", doc))
    for item in args.set or []:
        key, _, value = item.partition("=")
        settings[key] = value
    config = AutoscalerConfig.from_map(settings)
    for problem in config.problems:
        console.print(f"[yellow]config-autoscaler: {problem} (the default applies)[/yellow]")
    trace = simulate.read_trace(args.trace, args.request_seconds)
    result = simulate.simulate(trace, annotations, container_concurrency, config, args.startup)
    table = Table(title=f"KPA replay of {args.trace.name}")
    for column in ("second", "offered", "desired", "replicas", "ready", "queued", "panic"):
        table.add_column(column, justify="right")
    for row in result.rows:
        if row.second % args.every == 0:
            table.add_row(str(row.second), f"{row.offered:g}", str(row.desired), str(row.replicas), str(row.ready),
                          f"{row.queued:g}", "yes" if row.panicking else "")
    console.print(table)
    console.print(f"peak ready replicas {result.peak_replicas}; requests left waiting: "
                  f"{result.queued_request_seconds:g} request-seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    title = f"{args.trace.name}: containerConcurrency {container_concurrency}, start-up {args.startup:g}s"
    simulate.chart(result, args.out, title)
    simulate.write_csv(result, args.out.with_suffix(".csv"))
    console.print(f"chart: {args.out}; data: {args.out.with_suffix('.csv')}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="kproof", description="Prove a Knative platform correct and fast.")
    root.add_argument("--version", action="version", version=f"kproof {__version__}")
    sub = root.add_subparsers(dest="command", required=True)

    def with_state(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                       help="where the reference keeps its objects (default .kproof)")
        return p

    up = with_state(sub.add_parser("up", help="start the reference platform"))
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--api-port", type=int, default=0, help="API port (default: the last one, else free)")
    up.add_argument("--kafka-bootstrap", help="a Kafka to use (default $KPROOF_KAFKA_BOOTSTRAP, else a "
                    "Testcontainers Kafka when Docker answers, else the embedded Tansu broker)")
    up.add_argument("--postgres", action="store_true", help="also start a private PostgreSQL (seed 002's "
                    "pipeline; `kproof status --field postgres` gives its DSN)")
    up.add_argument("--nodes", type=Path, help="a node file: more nodes, with virtual GPUs (kept for later starts; "
                    "see fixtures/nodes/)")
    up.add_argument("--images", type=Path, action="append",
                    help="an image catalog of your own (YAML like fixtures/images.yaml; repeat; kept for later starts)")
    up.set_defaults(func=cmd_up)

    down = with_state(sub.add_parser("down", help="stop the reference platform"))
    down.set_defaults(func=cmd_down)

    status = with_state(sub.add_parser("status", help="show the reference platform's endpoints and health"))
    status.add_argument("--json", action="store_true")
    status.add_argument("--field", choices=("api", "ingress", "kafka", "postgres", "kubeconfig"),
                        help="print only this endpoint (for scripts: INGRESS=$(kproof status --field ingress))")
    status.set_defaults(func=cmd_status)

    run_cmd = sub.add_parser("run", help="run the conformance suite and write reports/")
    run_cmd.add_argument("--kubeconfig", type=Path, help="a target cluster's kubeconfig (default: embedded)")
    run_cmd.add_argument("--ingress", help="the target's ingress URL, e.g. http://127.0.0.1:8080")
    run_cmd.add_argument("--domain", help="the target's domain (default: from config-domain)")
    run_cmd.add_argument("--capability", action="append", help="a capability the target has (repeat)")
    run_cmd.add_argument("--area", action="append", help="only this conformance area (repeat)")
    run_cmd.add_argument("--kafka-bootstrap", help="a Kafka the tests and the cluster both reach")
    run_cmd.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    run_cmd.add_argument("--reports", type=Path, default=Path("reports"))
    run_cmd.add_argument("--no-load", dest="load", action="store_false", help="skip the short load scenario")
    run_cmd.set_defaults(func=cmd_run)

    load_cmd = with_state(sub.add_parser("load", help="run a Locust scenario against a Service"))
    load_cmd.add_argument("scenario", choices=["steady", "step", "burst", "ramp", "inference", "kafka_producer"])
    load_cmd.add_argument("--service", help="the Knative Service to load (kafka_producer: whose replicas to chart)")
    load_cmd.add_argument("--namespace", default="default")
    load_cmd.add_argument("--kubeconfig", type=Path, help="a cluster's kubeconfig (default: the running reference)")
    load_cmd.add_argument("--ingress", help="the cluster's ingress URL")
    load_cmd.add_argument("--users", type=int, default=5, help="steady, inference: how many users (default 5)")
    load_cmd.add_argument("--run-time", default="30s", help="steady, inference: for how long (default 30s)")
    load_cmd.add_argument("--path", default="/", help="what each request asks for, e.g. /?sleep=200")
    load_cmd.add_argument("--web", action="store_true", help="open Locust's web UI instead of running headless")
    load_cmd.add_argument("--web-port", type=int, default=8089)
    load_cmd.add_argument("--workers", type=int, default=1,
                          help="Locust processes: above 1, a master and that many workers (default 1)")
    load_cmd.add_argument("--master-bind", default="127.0.0.1",
                          help="--workers: where the master listens for workers (0.0.0.0: other machines too)")
    load_cmd.add_argument("--reports", type=Path, default=Path("reports"))
    load_cmd.add_argument("--topic", default="demo", help="kafka_producer: the topic (default demo)")
    load_cmd.add_argument("--rate", type=float, default=50, help="kafka_producer: messages a second (default 50)")
    load_cmd.add_argument("--duration", type=float, default=100, help="kafka_producer: seconds (default 100)")
    load_cmd.add_argument("--bootstrap", help="kafka_producer: the Kafka (default: the running reference's)")
    load_cmd.set_defaults(func=cmd_load)

    produce.add_parser(sub)

    models = with_state(sub.add_parser("models", help="prepare the intent model for MODEL_DIR"))
    models.add_argument("action", choices=["prepare"])
    models.add_argument("directory", nargs="?", type=Path, help="where to write it (MODEL_DIR of a replica)")
    models.add_argument("--claim", help="NAMESPACE/NAME: into that claim of the running reference instead")
    models.set_defaults(func=cmd_models)

    pipe = sub.add_parser("pipeline", help="run a Benthos-style stream config (seed 002's jobs)")
    pipe.add_argument("-c", "--config", type=Path, required=True, help="the config (YAML; ${ENV} interpolated)")
    pipe.set_defaults(func=cmd_pipeline)

    tweets = sub.add_parser("tweets", help="write a made-up Tweets.csv shaped like seed 002's")
    tweets.add_argument("out", type=Path, help="where to write it, e.g. Tweets.csv")
    tweets.add_argument("--rows", type=int, default=14_640)
    tweets.set_defaults(func=cmd_tweets)

    sim = sub.add_parser("simulate", help="replay a traffic trace through the KPA and chart the replicas")
    sim.add_argument("trace", type=Path, help="CSV with `second` and `concurrency` or `rps`")
    sim.add_argument("--service", type=Path, help="a Knative Service manifest (annotations, containerConcurrency)")
    sim.add_argument("--annotation", action="append", help="an autoscaling annotation, e.g. window=6s (repeat)")
    sim.add_argument("--container-concurrency", type=int, help="overrides the manifest's containerConcurrency")
    sim.add_argument("--config", type=Path, help="a config-autoscaler ConfigMap (YAML)")
    sim.add_argument("--set", action="append", help="a config-autoscaler key, e.g. max-scale-up-rate=500 (repeat)")
    sim.add_argument("--startup", type=float, default=2.0, help="pod start-up seconds (default 2)")
    sim.add_argument("--request-seconds", type=float, default=0.2,
                     help="time one request takes, to turn rps into concurrency (default 0.2)")
    sim.add_argument("--every", type=int, default=5, help="print every Nth second (default 5)")
    sim.add_argument("--out", type=Path, default=Path("reports/simulate.png"))
    sim.set_defaults(func=cmd_simulate)

    lint = sub.add_parser("lint", help="check Knative manifests against the seeds' practices (exit 1 on errors)")
    lint.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="YAML files, or folders of *.yaml/*.yml")
    lint.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    lint.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    lint.add_argument("--startup", type=float, metavar="SECONDS",
                      help="measured pod start-up time: checks the stable and panic windows against it")
    lint.add_argument("--response-seconds", type=float, metavar="SECONDS",
                      help="longest expected response: checks timeoutSeconds against 1.2 times it")
    lint.add_argument("--fix", action="store_true", help="rewrite deprecated forms in place, then report the rest")
    lint.set_defaults(func=cmd_lint)

    rep = sub.add_parser("report", help="rebuild badges, the summary and reports/html/ from reports/junit.xml")
    rep.add_argument("--reports", type=Path, default=Path("reports"))
    rep.set_defaults(func=cmd_report)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.func(args))
