"""Network egress for runs: a per-host intercepting proxy (mitmproxy, in a process of its own),
a per-run Unix socket into each sandbox, the policy it enforces, the recording it keeps, and
replay of a recording.

The proxy process imports only the standard-library modules of this package (policy, record,
control, relay_script) and mitmproxy (addon, proxy_relay, proxy_main); it never imports Django
and holds no database credentials. Everything that touches the database or the blob store
(models, session, store, spool) runs in the worker."""
