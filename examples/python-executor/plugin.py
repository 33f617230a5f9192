#!/usr/bin/python3 -I
"""A drover executor plugin in Python: runs each stage of a job with bash on this host.

It implements the whole launch contract of docs/plugins.md by hand (no SDK): the magic cookie,
PLUGIN_PROTOCOL_VERSIONS, a unix socket in PLUGIN_UNIX_SOCKET_DIR, the handshake line, the health
and controller services, PluginInfo/GetInfo and drover.plugin.v1.Executor.

Runs with Debian's python3-grpcio and python3-protobuf (hence /usr/bin/python3: those packages
are installed for the system Python only). `-I` (isolated mode) keeps PYTHONPATH and the user's
site-packages out, so a pip-installed protobuf of another major version cannot break it.
The message and service code in gen/ is generated from drover's .proto files by generate.sh.
"""

import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from datetime import datetime, timezone

NAME = "python-executor"
VERSION = "0.1.0"  # keep equal to drover-plugin.toml (the e2e test checks)
PROTOCOL_VERSIONS = [1]

MAGIC_COOKIE_KEY = "DROVER_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d7c1a7e2-drover-plugin-5b0f3e9a"
NOT_RUN_DIRECTLY = "This binary is a drover plugin. It is started by drover, not run directly."

# As large as drover sends (a job payload with megabytes of variables); gRPC's default is 4 MiB.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# SIGTERM -> SIGKILL for a cancelled stage, unless the runner's settings say otherwise.
DEFAULT_GRACE_SECONDS = 10.0
# On shutdown drover gives us 2 s before it SIGKILLs our process group: stop stages faster.
SHUTDOWN_GRACE_SECONDS = 1.0
PARENT_CHECK_SECONDS = 0.5

SETTINGS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "python-executor settings ([runners.plugin.settings])",
    "type": "object",
    "properties": {
        "base_dir": {
            "type": "string",
            "pattern": "^/",
            "description": "Absolute directory under which each job gets its own directory "
            "(builds, cache, stage scripts). Default: a new directory in the system temp dir.",
        },
        "stage_grace_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 3600,
            "description": "Seconds between SIGTERM and SIGKILL when a stage is cancelled. Default: 10.",
        },
    },
    "additionalProperties": False,
}

HERE = os.path.dirname(os.path.realpath(__file__))
# No __pycache__ beside the plugin: an installed plugin's directory is hashed and must not change.
sys.dont_write_bytecode = True


_log_lock = threading.Lock()


def log(level, message, **fields):
    """One hclog-style JSON line on stderr; drover forwards it into its own log at `level`."""
    record = {
        "@level": level,
        "@message": message,
        "@module": NAME,
        "@timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        **fields,
    }
    line = json.dumps(record, default=str) + "\n"
    with _log_lock:
        sys.stderr.write(line)
        sys.stderr.flush()


def fail_launch(message):
    """Before the handshake: drover shows the last stderr lines when a plugin exits early."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    sys.exit(1)


if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
    fail_launch(NOT_RUN_DIRECTLY)

try:
    import grpc
except ImportError as err:
    fail_launch(f"{NAME}: cannot import grpc ({err}): apt-get install python3-grpcio python3-protobuf")

sys.path.insert(0, os.path.join(HERE, "gen"))
try:
    import grpc_controller_pb2
    import grpc_controller_pb2_grpc
    import health_pb2
    import health_pb2_grpc
    from drover.plugin.v1 import executor_pb2, executor_pb2_grpc, job_pb2, plugin_info_pb2, plugin_info_pb2_grpc
except ImportError as err:
    fail_launch(f"{NAME}: cannot load the generated protocol code in {HERE}/gen ({err}): run generate.sh")


# ---------------------------------------------------------------------------------------------
# Results and output events


def output_event(stream, data):
    return job_pb2.StageEvent(output=job_pb2.OutputChunk(stream=stream, data=data))


def result_event(kind, exit_code=0, message=""):
    return job_pb2.StageEvent(result=job_pb2.StageResult(kind=kind, exit_code=exit_code, message=message))


def stage_result(returncode):
    """How a finished bash maps to a stage result (the same table as drover's shell executor)."""
    if returncode == 0:
        return result_event(job_pb2.RESULT_KIND_SUCCESS)
    if returncode > 0:
        return result_event(job_pb2.RESULT_KIND_BUILD_FAILURE, returncode, f"exit status {returncode}")
    # Killed by signal N: report 128+N, as bash does; the job fails like a failing script.
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return result_event(job_pb2.RESULT_KIND_BUILD_FAILURE, 128 + number, f"terminated by {name}")


# ---------------------------------------------------------------------------------------------
# Settings


class SettingsError(Exception):
    pass


def parse_settings(settings_json):
    """[runners.plugin.settings] as drover sends it (JSON; empty when there are none)."""
    if not settings_json.strip():
        return {}
    try:
        settings = json.loads(settings_json)
    except ValueError as err:
        raise SettingsError(f"settings are not JSON: {err}") from err
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise SettingsError("settings: expected a table")
    # drover checks the settings against SETTINGS_SCHEMA too; this plugin does not rely on it.
    for key in settings:
        if key not in SETTINGS_SCHEMA["properties"]:
            raise SettingsError(f"settings.{key}: unknown key (known: base_dir, stage_grace_seconds)")
    base_dir = settings.get("base_dir")
    if base_dir is not None and (not isinstance(base_dir, str) or not base_dir.startswith("/")):
        raise SettingsError(f"settings.base_dir: expected an absolute path, got {json.dumps(base_dir)}")
    grace = settings.get("stage_grace_seconds")
    if grace is not None and (
        isinstance(grace, bool) or not isinstance(grace, (int, float)) or not 0 <= grace <= 3600
    ):
        raise SettingsError(f"settings.stage_grace_seconds: expected a number 0-3600, got {json.dumps(grace)}")
    return settings


# ---------------------------------------------------------------------------------------------
# Stages: one bash process group each


class Stage:
    """A running stage: bash in its own session and process group, so one signal stops it all."""

    def __init__(self, name, proc):
        self.name = name
        self.proc = proc
        self._lock = threading.Lock()
        self._stopping = False
        # Set once bash has exited and what was left of its group has been SIGKILLed: from then
        # on the group id may be reused by the system, so no signal is sent to it any more.
        self.done = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        threading.Thread(target=self._reap, name=f"reap-{proc.pid}", daemon=True).start()

    def _signal(self, sig):
        with self._lock:
            if self.done.is_set():
                return
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def _reap(self):
        self.proc.wait()
        # Background children of the script would keep the output pipes open and outlive the
        # stage: kill what is left of the group at once (drover's shell executor does the same).
        self._signal(signal.SIGKILL)
        os.write(self._wake_w, b"x")
        self.done.set()

    def stop(self, grace):
        """SIGTERM to the group now, SIGKILL after `grace` seconds. Idempotent; never blocks."""
        with self._lock:
            if self._stopping or self.done.is_set():
                return
            self._stopping = True
        log("info", "stopping stage", stage=self.name, pid=self.proc.pid, grace_seconds=grace)
        self._signal(signal.SIGTERM)
        timer = threading.Timer(grace, self._signal, args=(signal.SIGKILL,))
        timer.daemon = True
        timer.start()

    def output(self):
        """Yields (stream, bytes) as the stage prints them, until both pipes are closed."""
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout.fileno(), selectors.EVENT_READ, job_pb2.OUTPUT_STREAM_STDOUT)
        selector.register(self.proc.stderr.fileno(), selectors.EVENT_READ, job_pb2.OUTPUT_STREAM_STDERR)
        selector.register(self._wake_r, selectors.EVENT_READ, None)
        open_pipes = 2
        try:
            while open_pipes:
                for key, _ in selector.select():
                    if key.data is None:
                        # bash exited: its group has just been killed, the pipes close next.
                        selector.unregister(self._wake_r)
                        continue
                    data = os.read(key.fd, 65536)
                    if data:
                        yield key.data, data
                    else:
                        selector.unregister(key.fd)
                        open_pipes -= 1
        finally:
            selector.close()

    def wait(self, timeout=None):
        """Waits until bash has exited and its group is gone; then frees the pipes (once)."""
        if not self.done.wait(timeout):
            return False
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._wake_r)
                os.close(self._wake_w)
                self.proc.stdout.close()
                self.proc.stderr.close()
        return True


class Job:
    """Per-job state, created by Configure and dropped by Cleanup. One process serves many jobs."""

    def __init__(self, job_id, settings):
        self.id = job_id
        self.grace = float(settings.get("stage_grace_seconds", DEFAULT_GRACE_SECONDS))
        base = settings.get("base_dir")
        if base:
            os.makedirs(base, mode=0o755, exist_ok=True)
            self.dir = tempfile.mkdtemp(prefix="job-", dir=base)
        else:
            self.dir = tempfile.mkdtemp(prefix=f"drover-{NAME}-")
        self.builds_dir = os.path.join(self.dir, "builds")
        self.cache_dir = os.path.join(self.dir, "cache")
        # Stage scripts contain the job's variables, masked ones included: owner only.
        self.scripts_dir = os.path.join(self.dir, "scripts")
        os.makedirs(self.builds_dir, exist_ok=True)
        os.makedirs(self.cache_dir, exist_ok=True)
        os.makedirs(self.scripts_dir, mode=0o700, exist_ok=True)
        self.running = set()
        self.lock = threading.Lock()

    def stop_all(self, grace):
        with self.lock:
            stages = list(self.running)
        for stage in stages:
            stage.stop(grace)
        return stages


class Jobs:
    def __init__(self):
        self._jobs = {}
        self._lock = threading.Lock()

    def open(self, job_id, settings):
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                job = Job(job_id, settings)
                self._jobs[job_id] = job
            return job

    def get(self, job_id):
        with self._lock:
            return self._jobs.get(job_id)

    def pop(self, job_id):
        with self._lock:
            return self._jobs.pop(job_id, None)

    def all(self):
        with self._lock:
            return list(self._jobs.values())


# ---------------------------------------------------------------------------------------------
# Services


class Executor(executor_pb2_grpc.ExecutorServicer):
    def __init__(self, jobs):
        self.jobs = jobs

    def Configure(self, request, context):
        job_id = request.job.job_id
        try:
            settings = parse_settings(request.job.runner_settings_json)
            job = self.jobs.open(job_id, settings)
        except SettingsError as err:
            yield configure_failure(job_pb2.RESULT_KIND_CONFIGURATION_ERROR, str(err))
            return
        except OSError as err:
            yield configure_failure(job_pb2.RESULT_KIND_SYSTEM_FAILURE, f"cannot create the job directory: {err}")
            return
        log("debug", "job configured", job=job_id, dir=job.dir)
        yield executor_pb2.ConfigureEvent(
            result=executor_pb2.ConfigureResult(
                status=job_pb2.StageResult(kind=job_pb2.RESULT_KIND_SUCCESS),
                config=executor_pb2.JobConfig(
                    builds_dir=job.builds_dir,
                    cache_dir=job.cache_dir,
                    builds_dir_is_shared=False,
                    hostname=socket.gethostname(),
                    driver=executor_pb2.DriverInfo(name=NAME, version=VERSION),
                    shell="bash",
                ),
            )
        )

    def Prepare(self, request, context):
        job = self.jobs.get(request.job.job_id)
        if job is None:
            yield result_event(job_pb2.RESULT_KIND_SYSTEM_FAILURE, 0, f"unknown job {request.job.job_id!r}")
            return
        python = ".".join(str(part) for part in sys.version_info[:3])
        line = f"Running on {socket.gethostname()} via {NAME} {VERSION} (Python {python}, grpcio {grpc.__version__})\n"
        yield output_event(job_pb2.OUTPUT_STREAM_STDOUT, line.encode())
        yield result_event(job_pb2.RESULT_KIND_SUCCESS)

    def Run(self, request, context):
        job = self.jobs.get(request.job_id)
        if job is None:
            yield result_event(job_pb2.RESULT_KIND_SYSTEM_FAILURE, 0, f"unknown job {request.job_id!r}")
            return
        script = os.path.join(job.scripts_dir, re.sub(r"[^\w.-]", "_", request.stage) + ".sh")
        try:
            fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(request.script)
            # The script cds into the project dir itself; the environment is ours, which carries
            # DROVER_PROCESS_TAG on to the stage (drover finds and kills it if we die).
            proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc", script],
                cwd=job.dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as err:
            yield result_event(job_pb2.RESULT_KIND_SYSTEM_FAILURE, 0, f"could not start bash: {err}")
            return
        stage = Stage(request.stage, proc)
        with job.lock:
            job.running.add(stage)
        # Called when the call ends for any reason; when drover cancels it (Ctrl-C, a timeout)
        # the stage is still running and is stopped: SIGTERM to its group, grace, SIGKILL.
        context.add_callback(lambda: stage.stop(job.grace))
        log("debug", "stage started", job=request.job_id, stage=request.stage, pid=proc.pid)
        try:
            for stream, data in stage.output():
                yield output_event(stream, data)
            stage.wait()
            log("debug", "stage finished", job=request.job_id, stage=request.stage, returncode=proc.returncode)
            yield stage_result(proc.returncode)
        finally:
            # Also reached when gRPC closes this generator early (the call was cancelled).
            stage.stop(job.grace)
            stage.wait()
            with job.lock:
                job.running.discard(stage)
            try:
                os.remove(script)
            except OSError:
                pass

    def Cleanup(self, request, context):
        job = self.jobs.pop(request.job_id)
        if job is None:
            yield result_event(job_pb2.RESULT_KIND_SUCCESS)
            return
        # A cancelled stage may still be in its grace period: let it end before its files go.
        for stage in job.stop_all(job.grace):
            stage.wait(job.grace + 5)
        try:
            shutil.rmtree(job.dir)
        except OSError as err:
            yield result_event(job_pb2.RESULT_KIND_SYSTEM_FAILURE, 0, f"cannot remove {job.dir}: {err}")
            return
        log("debug", "job cleaned up", job=request.job_id)
        yield result_event(job_pb2.RESULT_KIND_SUCCESS)


def configure_failure(kind, message):
    return executor_pb2.ConfigureEvent(
        result=executor_pb2.ConfigureResult(status=job_pb2.StageResult(kind=kind, message=message))
    )


class PluginInfo(plugin_info_pb2_grpc.PluginInfoServicer):
    def GetInfo(self, request, context):
        return plugin_info_pb2.GetInfoResponse(
            name=NAME,
            version=VERSION,
            kind=plugin_info_pb2.PLUGIN_KIND_EXECUTOR,
            protocol_versions=PROTOCOL_VERSIONS,
            capabilities=["cancel"],
            settings_schema=json.dumps(SETTINGS_SCHEMA),
        )


class Health(health_pb2_grpc.HealthServicer):
    """grpc.health.v1 with go-plugin's service name "plugin" (and "" for the whole server)."""

    KNOWN = ("", "plugin")

    def Check(self, request, context):
        if request.service not in self.KNOWN:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def Watch(self, request, context):
        if request.service not in self.KNOWN:
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        else:
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait()


class Controller(grpc_controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop_requested):
        self.stop_requested = stop_requested

    def Shutdown(self, request, context):
        # Answer first, then stop (the main thread does): drover waits for this reply.
        self.stop_requested.set()
        return grpc_controller_pb2.Empty()


# ---------------------------------------------------------------------------------------------
# Launch


def negotiate_version():
    """go-plugin's rule: the highest version both sides speak."""
    raw = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "")
    offered = [int(part) for part in raw.split(",") if part.strip().isdigit()] or [1]
    common = sorted(set(offered) & set(PROTOCOL_VERSIONS))
    if not common:
        fail_launch(
            f"{NAME}: no common plugin protocol version: drover offers {','.join(map(str, offered))}, "
            f"this plugin speaks {','.join(map(str, PROTOCOL_VERSIONS))}"
        )
    return common[-1]


def main():
    version = negotiate_version()
    own_dir = None
    socket_dir = os.environ.get("PLUGIN_UNIX_SOCKET_DIR")
    if not socket_dir:
        own_dir = socket_dir = tempfile.mkdtemp(prefix="drover-plugin-")
    socket_path = os.path.join(socket_dir, f"plugin-{os.getpid()}.sock")

    jobs = Jobs()
    stop_requested = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="rpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(Controller(stop_requested), server)
    plugin_info_pb2_grpc.add_PluginInfoServicer_to_server(PluginInfo(), server)
    executor_pb2_grpc.add_ExecutorServicer_to_server(Executor(jobs), server)
    try:
        bound = server.add_insecure_port(f"unix:{socket_path}")
    except RuntimeError as err:
        fail_launch(f"{NAME}: cannot listen on {socket_path}: {err}")
    if not bound:
        fail_launch(f"{NAME}: cannot listen on {socket_path}")
    server.start()

    # Ctrl-C belongs to drover, which decides what to cancel (go-plugin plugins ignore SIGINT).
    # A handler rather than SIG_IGN: an ignored signal would stay ignored in the stages' bash.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.set())

    # The handshake: one line, flushed, after the server listens.
    sys.stdout.write(f"1|{version}|unix|{socket_path}|grpc\n")
    sys.stdout.flush()
    log("info", "plugin started", version=VERSION, protocol=version, socket=socket_path)

    parent = os.getppid()
    while not stop_requested.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent:
            log("warn", "drover is gone; stopping")
            break

    # Shutdown: stop running stages, let in-flight calls end, remove what we created.
    started = time.monotonic()
    stages = [stage for job in jobs.all() for stage in job.stop_all(SHUTDOWN_GRACE_SECONDS)]
    for stage in stages:
        stage.wait(max(0.0, SHUTDOWN_GRACE_SECONDS + 0.2 - (time.monotonic() - started)))
    server.stop(grace=0.5).wait()
    for job in jobs.all():
        shutil.rmtree(job.dir, ignore_errors=True)
    try:
        os.remove(socket_path)
    except OSError:
        pass
    if own_dir:
        shutil.rmtree(own_dir, ignore_errors=True)
    log("info", "plugin stopped")


if __name__ == "__main__":
    main()
