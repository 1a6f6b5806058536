"""The run page under a flood, in Debian's Chromium (headless, through Playwright), for
bench/stream.py: the page is open while a run prints N lines; the performance API records every
long task (> 50 ms of main thread), each websocket message's arrival and each draw of the log
view. After the flood ends (the terminal event has arrived) the log is scrolled, searched and
followed again, and the page is then reloaded to open the finished run cold."""

import time

from playwright.sync_api import sync_playwright

from scripts.demo import BASE, DEMO_PASSWORD, DEMO_USER

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]

# Before any page script: record long tasks, and when each websocket message arrives.
PROBE = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });
window.__arrivals = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (m) => {
      if (m.data.indexOf('"type":"stdout"') !== -1) window.__arrivals.push(performance.now());
    });
  }
};
"""

# Once the page's log view exists: record each draw.
DRAWS = """
window.__draws = [];
const view = window.CrowNestRunLog;
const draw = view.draw.bind(view);
window.__drawTimes = [];
view.draw = () => {
  const t0 = performance.now();
  draw();
  const t1 = performance.now();
  window.__draws.push(t1);
  window.__drawTimes.push(t1 - t0);
};
"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else -1


def frame_delays(arrivals, draws):
    """For each message, the time until the next draw of the log view (which shows its lines)."""
    out, j = [], 0
    for t in arrivals:
        while j < len(draws) and draws[j] < t:
            j += 1
        if j < len(draws):
            out.append(draws[j] - t)
    return out


def wait_js(page, expression: str, timeout: float) -> None:
    """Poll a JS expression from here: the page's CSP forbids the eval of wait_for_function."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression} still false after {timeout} s")
        time.sleep(0.05)


ENDED = "document.getElementById('log-state').textContent === 'ended'"


def count_lines(page) -> int:
    return page.evaluate("window.CrowNestRunLog.lines.length")


def after_flood(page, lines: int):
    """Scroll, search and follow with 100,000 lines in the view: what a person would do."""
    page.evaluate("document.getElementById('log').scrollTop = 0")
    page.wait_for_timeout(300)
    page.fill("#log-search", f"{lines - 1}")
    page.press("#log-search", "Enter")
    page.wait_for_selector(f"#L{lines}", timeout=10_000)
    page.check("#log-times")
    page.evaluate("document.getElementById('log').scrollTop = 900000")
    page.wait_for_timeout(300)
    page.check("#log-follow")
    page.wait_for_timeout(1500)


def watch_run(context, api, command: str):
    """A signed-in page open on a new run of `command` from before its start to its end;
    returns (page, when the end arrived)."""
    run_id = api.start(command)
    page = context.new_page()
    page.goto(f"/runs/{run_id}")
    wait_js(page, "window.CrowNestRunLog !== undefined", 30)
    page.evaluate(DRAWS)
    api.go(run_id)
    wait_js(page, ENDED, 300)
    return page, page.evaluate("performance.now()")


def sign_in(browser):
    context = browser.new_context(base_url=BASE, viewport={"width": 1280, "height": 900})
    context.add_init_script(PROBE)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", DEMO_USER)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(BASE + "/")
    page.close()
    return context


def delays_of(page):
    return frame_delays(page.evaluate("window.__arrivals"), page.evaluate("window.__draws"))


def page_bench(api, command: str, lines: int, tick_command: str):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = sign_in(browser)
        page, _ = watch_run(context, api, tick_command)
        ticks = delays_of(page)
        print(
            f"  slow output ({len(ticks)} lines 20 ms apart), message to the next draw of the "
            f"log: p50 {pct(ticks, 50):.1f} ms, p99 {pct(ticks, 99):.1f} ms, max "
            f"{max(ticks, default=-1):.1f} ms"
        )
        draws = page.evaluate("window.__drawTimes")
        print(f"  one draw of the log view: p50 {pct(draws, 50):.2f} ms, max {max(draws):.2f} ms")
        page.close()
        page, ended = watch_run(context, api, command)
        shown = count_lines(page)
        after_flood(page, lines)
        tasks = page.evaluate("window.__longtasks")
        delays = delays_of(page)
        during = [d for start, d in tasks if start < ended]
        after = [d for start, d in tasks if start >= ended]
        print(f"  flood: lines in the view {shown}; {len(delays)} stdout messages")
        print(
            f"  long tasks during the flood: {len(during)}, longest {max(during, default=0):.0f}"
            f" ms; after it (scroll, search, follow): {len(after)}, longest "
            f"{max(after, default=0):.0f} ms"
        )
        print(
            f"  flood, message to the next draw of the log: p50 {pct(delays, 50):.1f} ms, p99 "
            f"{pct(delays, 99):.1f} ms, max {max(delays, default=-1):.1f} ms"
        )
        t0 = time.perf_counter()
        page.reload()
        wait_js(page, ENDED, 120)
        cold = time.perf_counter() - t0
        cold_tasks = [d for _, d in page.evaluate("window.__longtasks")]
        print(
            f"  the finished run opened cold: {cold:.2f} s to its last line, longest task "
            f"{max(cold_tasks, default=0):.0f} ms"
        )
        browser.close()
    longest = max(after, default=0)
    frame = 1000 / 60
    return [
        (
            f"the run page with {lines} lines: no long task over 200 ms after the flood ends",
            shown >= lines and longest <= 200,
            f"longest {longest:.0f} ms after the end ({len(after)} over 50 ms); "
            f"{shown} lines shown",
        ),
        (
            "the run page shows a line within one frame (16.7 ms) of its arrival",
            bool(ticks) and pct(ticks, 99) <= frame,
            f"slow output: message to draw p50 {pct(ticks, 50):.1f} ms, p99 "
            f"{pct(ticks, 99):.1f} ms",
        ),
    ]
