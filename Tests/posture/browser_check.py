#!/usr/bin/env python3
"""Opens the posture HTML report in headless Chromium (Debian's) and drives it through the DevTools protocol over
--remote-debugging-pipe (no extra package): the overview lists every API of the JSON report, typing into the name
filter narrows it, the environment and group filters narrow it, a click on an API opens its drill-down with the
policies, SLA tiers and contracts of every environment side by side. Saves a screenshot of the open drill-down.

Usage: browser_check.py REPORT.html REPORT.json SCREENSHOT.png
Prints one line per check ("ok - ..." or "not ok - ...") and exits 1 if any failed.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="apitap-chromium-")
        # fd 3 (commands) is our stdin pipe, fd 4 (answers) our stdout pipe; Chromium's own output goes to stderr.
        args = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile, "--window-size=1600,1200", "--no-first-run", "about:blank"]
        self.proc = subprocess.Popen(["sh", "-c", 'exec 3<&0 4>&1 0</dev/null 1>&2; exec "$@"', "sh"] + args,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0
        self.buffer = b""
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.proc.stdin.write(json.dumps(message).encode() + b"\0")
        self.proc.stdin.flush()
        deadline = time.time() + timeout
        while time.time() < deadline:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_event(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, e in enumerate(self.events):
                if e.get("method") == name:
                    return self.events.pop(i)
            self.events.append(self.read())
        raise TimeoutError(name)

    def eval(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def set_control(self, element_id, value, event):
        """Sets a filter control's value and fires the event a person's change would."""
        self.eval(f"{{ const c = document.getElementById({json.dumps(element_id)}); c.value = {json.dumps(value)}; "
                  f"c.dispatchEvent(new Event({json.dumps(event)})); }}")

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.profile], check=False)


def main():
    html, report_path, screenshot = sys.argv[1:4]
    report = json.load(open(report_path))
    apis = report["apis"]
    results = []

    def check(ok, what, detail=""):
        results.append(ok)
        print(("ok - " if ok else "not ok - ") + what + ("" if ok else f": {detail}"))

    browser = Browser()
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        browser.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        browser.send("Page.enable")
        browser.send("Page.navigate", {"url": "file://" + os.path.abspath(html)})
        browser.wait_event("Page.loadEventFired")

        visible = "Array.from(document.querySelectorAll('tr.api')).filter(r => !r.hidden).map(r => r.querySelector('.key').textContent)"
        shown = browser.eval(visible)
        check(sorted(shown) == sorted(a["key"] for a in apis),
              f"the overview lists every API of the report ({len(apis)})", f"{len(shown)} rows")
        check(browser.eval("document.getElementById('shown').textContent") == f"{len(apis)} of {len(apis)} APIs", "the count says so")
        check(all(browser.eval("document.body.textContent").count(a["name"]) >= 1 for a in apis), "every API's name is on the page")

        # Type into the name filter as a person would (focus, then text input).
        browser.eval("document.getElementById('filter-name').focus()")
        browser.send("Input.insertText", {"text": "api-1"})
        want = sorted(a["key"] for a in apis if "api-1" in (a["name"] + " " + a["assetId"] + " " + (a["instanceLabel"] or "") + " " + a["key"]).lower())
        got = sorted(browser.eval(visible))
        check(got == want and 0 < len(got) < len(apis), f"typing 'api-1' in the name filter narrows the overview to {len(want)} APIs", f"{len(got)} shown")

        # Clear it; the environment filter keeps the APIs deployed there.
        browser.set_control("filter-name", "", "input")
        env = report["environments"][1]["label"]
        browser.set_control("filter-env", env, "change")
        want = sorted(a["key"] for a in apis if any(i["environment"] == env for i in a["instances"]))
        got = sorted(browser.eval(visible))
        check(got == want, f"the environment filter ({env}) keeps the {len(want)} APIs deployed there", f"{len(got)} shown")
        browser.set_control("filter-env", "", "change")
        group = apis[0]["groupId"]
        browser.set_control("filter-group", group, "change")
        want = sorted(a["key"] for a in apis if a["groupId"] == group)
        got = sorted(browser.eval(visible))
        check(got == want, f"the group filter ({group}) keeps its {len(want)} APIs", f"{len(got)} shown")
        browser.set_control("filter-group", "", "change")

        # Click (a real mouse event) on an API with findings in every section: its drill-down opens.
        target_api = next(a for a in apis if a["status"] != "ALIGNED" and len(a["instances"]) == len(report["environments"]))
        index = apis.index(target_api)
        box = browser.eval(f"(() => {{ const b = document.querySelector('#api-{index} button.open'); b.scrollIntoView(); "
                           f"const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            browser.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})
        detail = f"document.getElementById('detail-{index}')"
        check(browser.eval(f"!{detail}.hidden"), f"a click on {target_api['name']} opens its drill-down")
        sections = browser.eval(f"['section-policies', 'section-tiers', 'section-contracts'].map(c => {detail}.querySelectorAll('tr.' + c + ' td').length)")
        envs = len(report["environments"])
        check(sections == [envs] * 3, f"the drill-down shows policies, SLA tiers and contracts for the {envs} environments side by side", str(sections))
        heads = browser.eval(f"Array.from({detail}.querySelectorAll('thead th')).map(t => t.textContent).filter(t => t)")
        check(heads == [e["label"] for e in report["environments"]], "one column per environment, in the report's order", str(heads))
        text = browser.eval(f"{detail}.textContent")
        policy = target_api["instances"][0]["policies"][0]["name"]
        check(policy in text and "Silver" in text and "billing-app" in text, "the drill-down holds the policies, tiers and contracts", text[:200])
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        check(os.path.getsize(screenshot) > 10_000, f"a screenshot is kept ({screenshot})")
        # The page fetches nothing: every resource is inline.
        check(browser.eval("performance.getEntriesByType('resource').length") == 0, "the page loads no external resource")
    finally:
        browser.close()
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
