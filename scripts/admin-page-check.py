#!/usr/bin/env python3
"""Drives the admin page in Debian's headless chromium over the DevTools protocol, as an operator would:
signs in, adds an account through the "Add AWS account" form, presses "Test connection" on two accounts,
opens "Policies", retries a queued upload, and looks at the page at 1280 px and 390 px.

Reads a JSON object on stdin (secrets stay out of the process list):
  url, admin_token, form (the fields to type), failing_account_id, secrets (strings that must appear
  nowhere), screenshots (a directory, optional).
Prints one JSON object of what it saw; the Swift test (AdminPageTests) asserts on it. Exit status 0 unless
the browser could not be driven at all. The browser is stopped by its PID and its profile removed.
"""
import json
import os
import sys
import time

import headless_browser
from headless_browser import Browser


def script_errors(events):
    # The browser logs the wrong token's 401 as a failed load; that one is expected.
    return headless_browser.script_errors(
        events, expected=lambda entry: entry.get("source") == "network" and "status of 401" in entry.get("text", ""))


def main():
    spec = json.load(sys.stdin)
    report = {}
    browser = Browser()
    try:
        for domain in ("Runtime", "Page", "Log", "Network"):
            browser.call(domain + ".enable")
        browser.viewport(1280, mobile=False)
        browser.call("Page.navigate", url=spec["url"])
        browser.wait_for("document.readyState === 'complete' && !document.getElementById('sign-in').hidden", "the sign-in form")

        # A wrong token first: refused, said so, still signed out.
        browser.type_into("#admin-token", "not-the-admin-token-0123456789")
        browser.click("#sign-in-form button[type=submit]")
        report["wrong_token_message"] = browser.wait_for(
            "document.getElementById('sign-in-error').textContent", "the wrong token's message"
        )
        report["wrong_token_signed_out"] = browser.evaluate("document.getElementById('app').hidden")

        browser.type_into("#admin-token", spec["admin_token"])
        browser.click("#sign-in-form button[type=submit]")
        failing = spec["failing_account_id"]
        browser.wait_for(f"!!document.querySelector('article[data-account-id=\"{failing}\"]')", "the accounts list")
        report["signed_in"] = True
        report["status_line"] = browser.wait_for(
            "(() => { const t = document.getElementById('status').textContent; return t.includes('replays:') ? t : null; })()",
            "the status line",
        )

        # The "Add AWS account" form, typed as an operator would.
        form = spec["form"]
        for name in ("name", "account_id", "access_key_id", "secret_access_key", "bucket", "host", "region"):
            if form.get(name):
                browser.type_into(f"#add-form [name={name}]", form[name])
        browser.evaluate(
            f"""(() => {{
                const f = document.getElementById('add-form');
                f.querySelector('details').open = true;
                f.elements.sse.value = {json.dumps(form.get('sse', ''))};
                f.elements.sse.dispatchEvent(new Event('change'));
                f.elements.scheme.value = {json.dumps(form.get('scheme', 'https'))};
                f.elements.path_style.checked = {json.dumps(bool(form.get('path_style')))};
                return true;
            }})()"""
        )
        browser.click("#add-form button[type=submit]")
        added = form["account_id"]
        try:
            browser.wait_for(f"!!document.querySelector('article[data-account-id=\"{added}\"]')", "the added account in the list")
            report["added_listed"] = True
        except RuntimeError:
            report["added_listed"] = False
            report["add_error"] = browser.evaluate("document.getElementById('add-error').textContent")
        report["issued_storage_url"] = browser.evaluate(
            "(() => { const p = document.querySelector('#issued pre'); return p ? p.textContent : null; })()"
        )

        def verify(account_id):
            card = f'article[data-account-id="{account_id}"]'
            browser.click(f"{card} button.verify")
            browser.wait_for(f"!!document.querySelector('{card} .panel ol.checks')", f"the connection check of {account_id}", 60)
            return browser.evaluate(
                f"""(() => {{
                    const panel = document.querySelector('{card} .panel');
                    return {{
                        summary: panel.querySelector('.summary-line').textContent,
                        statuses: Array.from(panel.querySelectorAll('li.check .badge')).map(b => b.textContent),
                        text: panel.innerText,
                    }};
                }})()"""
            )

        report["failing_verify"] = verify(failing)

        # Edit the failing account: a new name and a new secret (the operator's fix for refused credentials).
        edit = spec.get("edit")
        if edit:
            card = f'article[data-account-id="{failing}"]'
            browser.click(f"{card} button.edit")
            browser.wait_for(f"!!document.querySelector('{card} form.edit-form')", "the edit form")
            browser.evaluate(f"document.querySelector('{card} form.edit-form [name=name]').value = ''")
            browser.type_into(f"{card} form.edit-form [name=name]", edit["name"])
            browser.type_into(f"{card} form.edit-form [name=secret_access_key]", edit["secret_access_key"])
            browser.click(f"{card} form.edit-form button[type=submit]")
            report["edited_name_listed"] = bool(
                browser.wait_for(f"(document.querySelector('{card} h3') || {{}}).textContent === {json.dumps(edit['name'])}", "the new name")
            )
        if report["added_listed"]:
            report["added_verify"] = verify(added)
            card = f'article[data-account-id="{added}"]'
            browser.click(f"{card} button.policies")
            browser.wait_for(f"document.querySelectorAll('{card} .panel pre').length >= 2", "the policies")
            report["policies"] = browser.evaluate(
                f"Array.from(document.querySelectorAll('{card} .panel pre')).map(p => {{ try {{ JSON.parse(p.textContent); return true; }} catch (e) {{ return false; }} }})"
            )

        # The queue: the failing account's spooled upload, retried with its button. Editing the account resumed its
        # replays, so the row may be mid-attempt when the button is pressed ("0 uploads are due now"); once the attempt
        # has failed it is pending again, and pressed again.
        for _ in range(5):
            browser.wait_for("!!document.querySelector('#queue tr[data-queue-id] button.retry')", "the queued upload's retry button")
            report["queue_rows"] = browser.evaluate("document.querySelectorAll('#queue tr[data-queue-id]').length")
            browser.evaluate("document.getElementById('queue-notice').textContent = ''")
            browser.click("#queue tr[data-queue-id] button.retry")
            report["retry_notice"] = browser.wait_for(
                "(() => { const t = document.getElementById('queue-notice').textContent; return t.includes('due now') ? t : null; })()",
                "the retry notice",
            )
            if report["retry_notice"].startswith("1 upload is due now"):
                break
            time.sleep(1)

        # No secret anywhere: the DOM, every field's value, the tab's storage, and every API answer the page received.
        page_text = browser.evaluate(
            """(() => document.documentElement.outerHTML
                + JSON.stringify(Array.from(document.querySelectorAll('input, textarea, select')).map(e => e.value))
                + JSON.stringify(Object.assign({}, localStorage)))()"""
        )
        bodies = []
        for event in list(browser.events):
            if event.get("method") == "Network.responseReceived" and "/api/" in event["params"]["response"]["url"]:
                try:
                    body = browser.call("Network.getResponseBody", requestId=event["params"]["requestId"])
                    bodies.append(body.get("body", ""))
                except RuntimeError:
                    pass
        report["api_answers_seen"] = len(bodies)
        report["secret_hits"] = [
            where for secret in spec["secrets"] for where, text in (("page", page_text), ("api answers", "\n".join(bodies))) if secret in text
        ]

        shots = spec.get("screenshots")
        report["widths"] = {}
        for width, mobile in ((1280, False), (390, True)):
            browser.viewport(width, mobile)
            time.sleep(0.3)
            report["widths"][str(width)] = browser.evaluate(
                "({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})"
            )
            if shots:
                browser.screenshot(os.path.join(shots, f"admin-page-{width}.png"))
        time.sleep(0.2)
        browser.evaluate("1")  # collect the last events
        report["errors"] = script_errors(browser.events)
    except Exception as error:  # report what happened; the Swift test fails on it
        report["failure"] = str(error)
        report["errors"] = script_errors(browser.events)
    finally:
        browser.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
