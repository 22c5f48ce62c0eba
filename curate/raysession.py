"""Starting or joining Ray: the one executor.

By default an embedded local instance on this machine's cores, listening on loopback only
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray bind 127.0.0.1 on Linux; see DESIGN.md). With
``address`` (or ``RAY_ADDRESS``) the same code joins an existing cluster, e.g. ``address="auto"``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

# Must be set before Ray is imported anywhere in this process: loopback-only embedded Ray.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def init_ray(address: str | None = None, num_cpus: int | None = None, **kwargs: Any) -> Any:
    """Connect to Ray once per process; reuse an existing connection.

    ``address``: None → ``RAY_ADDRESS`` if set, else a new embedded local instance (loopback only).
    ``num_cpus``: cap the embedded instance's cores (default: all).
    """
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Ship the project's packages to workers when they run from a source checkout.
    env: dict[str, Any] = {"env_vars": {"PYTHONWARNINGS": "ignore::DeprecationWarning"}}
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # Ray starts workers at niceness 15, so on a small machine its own daemons and the driver pre-empt the
    # workers that do all of the work; the embedded instance runs them at normal priority.
    os.environ.setdefault("RAY_worker_niceness", "0")
    # Ray 2.5x turns token authentication on by default and says so at every start. It stays on (a token in
    # ~/.ray protects even a loopback-only instance from other local users); the notice is silenced for the
    # embedded instance, where the user did not start a cluster and has nothing to configure.
    if not address:
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    if address:
        ray.init(address=address, runtime_env=env, logging_level=logging.WARNING, log_to_driver=True, **kwargs)
    else:
        ray.init(
            # "local": always a new embedded instance, never a cluster that `ray start` left on this machine.
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            runtime_env=env,
            logging_level=logging.WARNING,
            log_to_driver=True,
            **kwargs,
        )
    return ray


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))
