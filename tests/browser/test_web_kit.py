"""The shared web kit's modules (web/common) run in a real Chromium: form validation, the API client's envelopes,
ETag and 401 handling, the poller's If-None-Match and backoff, translations; and the dashboard's overview
reading whatever shape of overview it gets. Each check imports the modules as the pages do (ES modules through
the dashboard page's import map) and returns what it saw."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.browser import chromium, wait, web_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page() -> Iterator[WebDriver]:
    # no API behind it: these checks give the client its own fetch
    with web_site("http://127.0.0.1:9") as site, chromium() as driver:
        driver.get(site.url + "/dashboard/")
        wait(driver).until(ec.visibility_of_element_located((By.ID, "signin-page")))
        yield driver


def run(driver: WebDriver, body: str) -> Any:
    """Run ``body`` (an async function's body; ``done(value)`` answers) in the page."""
    script = f"""
      const done = arguments[arguments.length - 1];
      (async () => {{ {body} }})().catch((e) => done({{thrown: String(e && e.stack || e)}}));
    """
    result = driver.execute_async_script(script)
    assert not (isinstance(result, dict) and "thrown" in result), result
    return result


def test_form_validation_messages(page: WebDriver) -> None:
    got = run(page, """
      const { validate } = await import('../common/components/form.js');
      const { setLang } = await import('../common/i18n.js');
      setLang('en');
      const fields = [
        { name: 'name', required: true, maxLength: 5 },
        { name: 'n', type: 'int', min: 1, max: 10 },
        { name: 'j', type: 'json' },
        { name: 'e', type: 'email' },
        { name: 'ids', type: 'list', pattern: /^[a-z]+$/, maxItems: 2 },
      ];
      const cases = [
        { name: '', n: '', j: '', e: '', ids: '' },
        { name: 'toolong', n: 'x', j: '{bad', e: 'nope', ids: 'a B' },
        { name: 'ok', n: '11', j: '[1]', e: '', ids: 'a b c' },
        { name: ' ok ', n: '7', j: '{"a": 1}', e: 'x@y.cn', ids: 'a, b' },
      ];
      done(cases.map((c) => validate(fields, c)));
    """)
    assert got[0]["errors"] == {"name": "This field is required."}
    assert got[0]["values"] == {"n": None, "j": None, "e": None, "ids": []}
    assert got[1]["errors"] == {
        "name": "Too long: at most 5 characters.", "n": "Enter a whole number.", "j": "Not valid JSON.",
        "e": "Enter an e-mail address like name@school.edu.", "ids": '"B" is not allowed here.',
    }
    assert got[2]["errors"] == {"n": "Enter a number from 1 to 10.", "j": 'Enter a JSON object, like {"key": "value"}.',
                                "ids": "Too many: at most 2."}
    assert got[3] == {"errors": {}, "values": {"name": "ok", "n": 7, "j": {"a": 1}, "e": "x@y.cn", "ids": ["a", "b"]}}


def test_the_api_client_reads_envelopes_etags_and_refusals(page: WebDriver) -> None:
    got = run(page, """
      const { ApiClient, ApiError, isMissingRoute } = await import('../common/api.js');
      const seen = [];
      const answers = [
        [200, {success: true, data: {x: 1}}, {ETag: '"v1"'}],
        [304, null, {ETag: '"v1"'}],
        [400, {error: {code: 'bad_payload', message: 'name: Field required', field: 'name'}}, {}],
        [403, {message: 'Missing Authentication Token'}, {}],
        [401, {error: {code: 'unauthorized', message: 'token expired'}}, {}],
      ];
      const fetchImpl = async (url, init) => {
        seen.push({url, auth: init.headers.Authorization, inm: init.headers['If-None-Match'] || null,
                   method: init.method, body: init.body || null});
        const [status, body, headers] = answers.shift();
        return new Response(body === null ? null : JSON.stringify(body), {status, headers});
      };
      let unauthorized = 0;
      const api = new ApiClient({base: 'http://api.test', getToken: async () => 'ctk_secret', fetchImpl,
                                 onUnauthorized: () => { unauthorized += 1; }});
      const first = await api.request('GET', '/api/agents', {params: {site_id: 'school-1', tag: null}});
      const second = await api.request('GET', '/api/agents', {etag: first.etag});
      const errors = [];
      const calls = [() => api.post('/api/tokens', {name: ''}), () => api.get('/api/me'), () => api.get('/api/lms')];
      for (const call of calls) {
        try { await call(); errors.push(null); } catch (e) {
          errors.push({isApiError: e instanceof ApiError, status: e.status, code: e.code, message: e.message,
                       details: e.details, missing: isMissingRoute(e)});
        }
      }
      done({first, second, errors, seen, unauthorized});
    """)
    assert got["first"] == {"status": 200, "data": {"x": 1}, "etag": '"v1"', "notModified": False}
    assert got["second"]["notModified"] is True
    assert got["seen"][0]["url"] == "http://api.test/api/agents?site_id=school-1"
    assert got["seen"][0]["auth"] == "Bearer ctk_secret" and got["seen"][0]["inm"] is None
    assert got["seen"][1]["inm"] == '"v1"'
    assert got["seen"][2]["body"] == '{"name":""}' and got["seen"][2]["method"] == "POST"
    bad, gateway, expired = got["errors"]
    assert bad == {"isApiError": True, "status": 400, "code": "bad_payload", "message": "name: Field required",
                   "details": {"field": "name"}, "missing": False}
    assert gateway["missing"] is True and gateway["message"] == "Missing Authentication Token"
    assert expired["status"] == 401 and expired["missing"] is False
    assert got["unauthorized"] == 1


def test_the_poller_sends_the_etag_hands_on_only_changes_and_backs_off(page: WebDriver) -> None:
    got = run(page, """
      const { Poller, connection, backoffDelayS, setPollInterval, interval } = await import('../common/poller.js');
      setPollInterval(10);
      const sent = [];
      const delivered = [];
      const script = [
        async () => ({data: 'a', etag: '"1"', notModified: false}),
        async () => ({notModified: true, etag: '"1"'}),
        async () => { throw new Error('network down'); },
        async () => { throw new Error('still down'); },
        async () => ({data: 'b', etag: '"2"', notModified: false}),
      ];
      const p = new Poller({poll: async ({etag}) => { sent.push(etag); return script.shift()(); },
                            onData: (d) => delivered.push(d)});
      p.stopped = false;  // driven by hand, not by timers
      const states = [];
      for (let i = 0; i < 5; i++) {
        await p.now();
        const c = connection.get();
        const retryInS = c.retryAt ? Math.round((c.retryAt - Date.now()) / 1000) : null;
        states.push({failures: c.failures, error: c.error, retryInS});
      }
      p.stop();
      done({sent, delivered, states, interval: interval.get(), remembered: localStorage.getItem('ct.interval'),
            backoff: [0, 1, 2, 3, 4, 5, 10].map((n) => backoffDelayS(10, n)),
            refused: (setPollInterval(7), interval.get())});
    """)
    assert got["sent"] == [None, '"1"', '"1"', '"1"', '"1"']
    assert got["delivered"] == ["a", "b"]  # the 304 and the failures hand nothing on
    assert [s["failures"] for s in got["states"]] == [0, 0, 1, 2, 0]
    assert got["states"][2]["error"] == "network down" and got["states"][2]["retryInS"] == 20
    assert got["states"][3]["retryInS"] == 40 and got["states"][4]["error"] is None
    assert got["backoff"] == [10, 20, 40, 80, 160, 300, 300]
    assert got["interval"] == 10 and got["remembered"] == "10" and got["refused"] == 10


def test_translations_fill_placeholders_and_follow_the_chosen_language(page: WebDriver) -> None:
    got = run(page, """
      const { t, setLang, lang } = await import('../common/i18n.js');
      setLang('zh-CN');
      const zh = [t('table.page', {page: 2, pages: 5}), t('form.too_long', {max: 3}), document.documentElement.lang];
      setLang('fr');  // not offered: nothing changes
      const still = lang.get();
      setLang('en');
      done({zh, still, en: t('table.page', {page: 2, pages: 5}), stored: localStorage.getItem('ct.lang'),
            missing: t('no.such.key')});
    """)
    assert got["zh"] == ["第 2 / 5 页", "太长：最多 3 个字符。", "zh-CN"]  # noqa: RUF001
    assert got["still"] == "zh-CN" and got["en"] == "Page 2 of 5" and got["stored"] == "en"
    assert got["missing"] == "no.such.key"


def test_the_overview_reads_any_shape_it_gets(page: WebDriver) -> None:
    got = run(page, """
      const { normalizeOverview } = await import('./pages/overview.js');
      const { heartbeatFresh } = await import('./format.js');
      const now = 1000000;
      const quiet = [{site_id: 'a', online_count: 3, agent_count: 5, last_heartbeat: now - 10},
                     {site_id: 'b', online: 1, offline: 0, last_heartbeat: now - 600}];
      // before any answer told the cloud's stale_after_s, a heartbeat's age says nothing
      const unknown = heartbeatFresh(now - 10, now);
      done([
        normalizeOverview(undefined, now),
        normalizeOverview({stale_after_s: 150, sites: quiet, commands: {success_rate: 0.5}}, now),
        unknown,
        normalizeOverview({stale_after_s: 900, sites: quiet}, now),  // the answer's figure, not a copy of it
        normalizeOverview({sites: [{site_id: 'c', agents: {online: 2, offline: 1}, link_up: true, lms_up: false}],
                           events: [{at: now, kind: 'x'}]}, now),
        // the cloud's hops (presence per hop): the link down, the LMS behind it unknown (not "LMS down")
        normalizeOverview({sites: [{site_id: 'd', link_up: false, lms_up: null, last_heartbeat: now - 10}]}, now),
      ]);
    """)
    empty, counted, unknown, longer, flagged, cut = got
    assert empty["sites"] == [] and empty["down"] == [] and empty["successRate"] is None
    assert (counted["online"], counted["offline"]) == (4, 2)
    assert [s["site_id"] for s in counted["down"]] == ["b"] and counted["successRate"] == 0.5
    assert unknown is None and longer["down"] == []
    assert [s["site_id"] for s in flagged["down"]] == ["c"] and len(flagged["events"]) == 1
    assert [(s["site_id"], s["link_up"], s["lms_up"]) for s in cut["down"]] == [("d", False, None)]


def test_the_data_table_pages_sorts_searches_and_filters_thousands_of_rows(page: WebDriver) -> None:
    got = run(page, """
      const { html, render } = await import('../common/html.js');
      const { DataTable } = await import('../common/components/table.js');
      const { setLang } = await import('../common/i18n.js');
      setLang('en');
      const rows = Array.from({length: 5000}, (_, i) => ({id: `pc-${String(i).padStart(4, '0')}`, n: (i * 7919) % 5000,
                                                          site: i % 2 ? 'odd' : 'even'}));
      const box = document.createElement('div');
      document.body.appendChild(box);
      const columns = [{key: 'id', label: 'Id'}, {key: 'n', label: 'N'}];
      // the baseline: a table of one page's worth of rows, rendered the same way in the same page
      let started = performance.now();
      render(html`<${DataTable} id="small" rows=${rows.slice(0, 25)} rowKey=${(r) => r.id} columns=${columns} />`, box);
      const baseline = performance.now() - started;
      render(null, box);
      started = performance.now();
      render(html`<${DataTable} id="big" rows=${rows} rowKey=${(r) => r.id}
        filters=${[{key: 'site', label: 'Site', options: ['odd', 'even'].map((v) => ({value: v, label: v}))}]}
        columns=${[{key: 'id', label: 'Id'}, {key: 'n', label: 'N'}]} />`, box);
      const rendered = performance.now() - started;
      const tick = () => new Promise((r) => setTimeout(r, 50));
      const keys = () => [...box.querySelectorAll('tbody tr[data-key]')].map((tr) => tr.dataset.key);
      const out = {rendered, baseline, first: keys(), count: box.querySelector('.dt-count').textContent};
      box.querySelector('.dt-next').click(); await tick();
      out.second = keys().slice(0, 2);
      box.querySelector('button[data-col="n"]').click(); await tick();
      box.querySelector('button[data-col="n"]').click(); await tick();  // descending
      out.pageAfterSort = box.querySelector('.dt-pager span').textContent;
      out.sortedDesc = [...box.querySelectorAll('tbody td[data-col="n"]')].slice(0, 3).map((td) => td.textContent);
      out.ariaSort = box.querySelector('button[data-col="n"]').closest('th').getAttribute('aria-sort');
      const search = box.querySelector('#big-search');
      search.value = 'pc-012'; search.dispatchEvent(new Event('input', {bubbles: true})); await tick();
      out.searched = box.querySelector('.dt-count').textContent;
      const filter = box.querySelector('#big-filter-site');
      filter.value = 'odd'; filter.dispatchEvent(new Event('change', {bubbles: true})); await tick();
      out.filtered = box.querySelector('.dt-count').textContent;
      render(null, box); box.remove();
      done(out);
    """)
    assert got["first"] == [f"pc-{i:04d}" for i in range(25)]  # one page rendered of 5,000
    assert got["count"] == "5,000 of 5,000"
    assert got["second"] == ["pc-0025", "pc-0026"]
    assert got["pageAfterSort"] == "Page 1 of 200"  # a new order starts at its first page
    assert got["sortedDesc"] == ["4999", "4998", "4997"] and got["ariaSort"] == "descending"
    assert got["searched"] == "10 of 5,000"
    assert got["filtered"] == "5 of 5,000"
    print(f"first render: 5,000 rows {got['rendered']:.1f} ms; baseline 25 rows {got['baseline']:.1f} ms")


def test_the_week_grid_takes_only_hex_course_colours(page: WebDriver) -> None:
    """A ClassTop client names its courses' colours; only ``#rgb``/``#rrggbb`` reach the style attribute."""
    got = run(page, """
      const { html, render } = await import('../common/html.js');
      const { WeekGrid } = await import('../common/components/weekgrid.js');
      const colours = ['#1a2B3c', '#abc', 'red;background:url(https://evil.example/x)', 'red', '#12345', '#abcd',
                       'url(x)', ' #abc', 7];
      const courses = colours.map((color, i) => ({ id: i + 1, name: `c${i}`, color }));
      const entries = courses.map((c) => ({ id: c.id, course_id: c.id, day_of_week: 1, start_time: '08:00',
                                            end_time: '09:00', weeks: [] }));
      const box = document.createElement('div');
      document.body.appendChild(box);
      render(html`<${WeekGrid} id="wg-test" courses=${courses} entries=${entries} />`, box);
      const styles = [...box.querySelectorAll('.wg-entry')].map((li) => li.getAttribute('style'));
      const course = [...box.querySelectorAll('.wg-entry')].map((li) => li.style.getPropertyValue('--course'));
      box.remove();
      done({ styles, course });
    """)
    assert got["course"] == ["#1a2B3c", "#abc", "", "", "", "", "", "", ""], got
    assert not any("url" in s or "red" in s for s in got["styles"]), got["styles"]
