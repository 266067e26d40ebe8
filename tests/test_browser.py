"""The offline site in a real browser. Debian's Chromium, driven by Playwright, loads the site from a local HTTP server
at 1280 and 400 px and measures the pages with JavaScript in the page: the width of the content column and of every
figure, prose that would need sideways scrolling, math left as raw `$...$`, Pandoc attributes printed as text, the study
page's key-findings box before its first code cell, the model table's sorting and filtering, search, and every link
between pages (anchors included). Screenshots go to `$ROBUSTNESS_STUDY_TEST_OUTPUT/browser/` (`.ci/run` sets it to
`test-output/`), or to a temporary folder.

Chromium is Debian's `chromium` (`.ci/run` installs it); Playwright only drives it (no browser download). Without it the
tests skip, except under `CI_STRICT_BROWSER=1` (exported by `.ci/run`), where they fail."""
import functools, http.server, json, os, re, shutil, threading, urllib.parse
from pathlib import Path
import pytest
from conftest import ROOT

WIDTHS = (1280, 400)
KEY_PAGES = ('index.html', '20_study.html', '08_average_case.html', '10_analysis.html')   # front, study, most math, API page
OWN_FIGURES = ('index.html', '20_study.html', '21_average_case.html')   # pages whose figures carry written alt text
TRACEBACK = 'Traceback (most recent call last)'
IGNORED_404 = {'/favicon.ico'}

# Measured in the page: content column, figures, prose wider than the window, raw math and Pandoc attributes in the
# visible text, headings that skip a level, and the position of the key-findings box against the first code cell.
MEASURE = r"""() => {
  const art = document.querySelector('article.bd-article'), cs = getComputedStyle(art), W = document.documentElement.clientWidth;
  const column = art.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const scroller = e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; } return false; };
  const prose = [...art.querySelectorAll('p, li, h1, h2, h3, h4, h5, h6, dt, dd, blockquote')]
      .filter(e => e.getBoundingClientRect().right > W + 1 && !scroller(e)).map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 80));
  const visible = art.cloneNode(true);
  visible.querySelectorAll('pre, code, script, style, math, .cell_input, .headerlink').forEach(e => e.remove());
  const text = visible.textContent;
  const levels = [...art.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => [+h.tagName[1], h.textContent.trim().slice(0, 60)]);
  const jumps = levels.filter((h, i) => i && h[0] > levels[i - 1][0] + 1).map(h => h[1]);
  const top = s => { const e = art.querySelector(s); return e ? e.getBoundingClientRect().top + window.scrollY : null; };
  return {column, W, scrollWidth: document.documentElement.scrollWidth, prose, title: document.title,
          dollars: (text.match(/\$[^$\n]{0,40}/g) || []), targets: (document.body.innerText.match(/\{target=[^}]*\}/g) || []).length,
          math: document.querySelectorAll('math').length, mathFallback: document.querySelectorAll('.math-fallback').length,
          jumps, keyFindings: top('.key-findings'), firstCode: top('.cell:not(.tag_remove-input)'),
          imgs: [...art.querySelectorAll('img')].map(i => ({src: i.getAttribute('src'), alt: i.getAttribute('alt') || '',
                 natural: i.naturalWidth, shown: i.getBoundingClientRect().width, ok: i.complete && i.naturalWidth > 0}))};
}"""
LINKS = r"""() => ({ids: [...document.querySelectorAll('[id]')].map(e => e.id),
                   links: [...document.querySelectorAll('a[href]')].map(a => a.href),
                   text: document.body.innerText})"""


# ---------------------------------------------------------------------------------------------------------- browser
def _strict() -> bool: return os.environ.get('CI_STRICT_BROWSER') == '1'

@pytest.fixture(scope='session')
def browser():
    "Debian's chromium under Playwright; skips without it, or fails under `CI_STRICT_BROWSER=1`."
    exe = shutil.which('chromium')
    if exe is None:
        msg = "Debian's `chromium` is not on PATH (install: apt-get install -y chromium; .ci/run does it)"
        if _strict(): pytest.fail(msg + ' and CI_STRICT_BROWSER=1: the browser test must run in CI', pytrace=False)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        yield b
        b.close()


# ----------------------------------------------------------------------------------------------------------- server
class _Handler(http.server.SimpleHTTPRequestHandler):
    "Static files; logs (path, status) of every request."
    def log_request(self, code='-', size='-'):
        self.server.requests.append((urllib.parse.unquote(urllib.parse.urlsplit(self.path).path), int(code)))
    def log_message(self, *args): pass

class SiteServer:
    "A folder served on 127.0.0.1 (free port) from a thread; `requests` lists (path, status) in order."
    def __init__(self, root):
        self.root = Path(root)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Handler, directory=str(root)))
        self.httpd.requests = self.requests = []
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
    def __enter__(self): self.thread.start(); return self
    def __exit__(self, *exc): self.httpd.shutdown(); self.httpd.server_close(); self.thread.join(5)


def open_page(browser, url, width, height=900):
    "A new page at `width` px with `url` loaded; returns (page, JavaScript errors, failed responses)."
    pg = browser.new_page(viewport={'width': width, 'height': height})
    errors, failed = [], []
    pg.on('pageerror', lambda e: errors.append(str(e)))
    pg.on('response', lambda r: failed.append(f'HTTP {r.status} {r.url}') if r.status >= 400 and urllib.parse.urlsplit(r.url).path not in IGNORED_404 else None)
    pg.goto(url, wait_until='load')
    return pg, errors, failed


def crawl(browser, server, start='index.html'):
    "Every page reachable by links from `start` at 1280 px: {path: problems}, plus the ids of each page and every local link."
    todo, seen, report, ids, links = [server.url + start], set(), {}, {}, []
    while todo:
        url = todo.pop(0)
        if url in seen: continue
        seen.add(url)
        path = urllib.parse.urlsplit(url).path
        if not (server.root/urllib.parse.unquote(path).lstrip('/')).is_file():
            report[path] = [f'missing page ({path} is not in the site)']; continue
        pg, errors, failed = open_page(browser, url, 1280)
        got = pg.evaluate(LINKS)
        broken = pg.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))")
        pg.close()
        ids[path] = set(got['ids'])
        report[path] = ([f'JavaScript error: {e}' for e in errors] + failed + [f'image not displayed: {s}' for s in broken]
                        + (['Python traceback in the page'] if TRACEBACK in got['text'] else []))
        for href in got['links']:
            u = urllib.parse.urlsplit(href)
            if f'{u.scheme}://{u.netloc}/' != server.url: continue
            links.append((path, href))
            if u.path.endswith('.html'): todo.append(urllib.parse.urlunsplit(u._replace(fragment='', query='')))
    return report, ids, links

def link_problems(server, ids, links):
    "Local links to a missing file, or to an anchor that the target page does not have."
    bad = []
    for page, href in sorted(set(links)):
        u = urllib.parse.urlsplit(href)
        f = server.root/urllib.parse.unquote(u.path).lstrip('/')
        if f.is_dir(): f = f/'index.html'
        if not f.is_file(): bad.append(f'{page}: broken link {href}'); continue
        frag = urllib.parse.unquote(u.fragment)
        if frag and u.path in ids and frag not in ids[u.path]: bad.append(f'{page}: no anchor #{frag} in {u.path}')
    return bad


# ------------------------------------------------------------------------------------------------------- the site
def _out_dir(tmp_path_factory) -> Path:
    o = os.environ.get('ROBUSTNESS_STUDY_TEST_OUTPUT')
    d = Path(o)/'browser' if o else tmp_path_factory.mktemp('browser-out')
    d.mkdir(parents=True, exist_ok=True); return d

@pytest.fixture(scope='session')
def out_dir(tmp_path_factory): return _out_dir(tmp_path_factory)

@pytest.fixture(scope='session')
def site(tmp_path_factory):
    "The offline site of this project, built once per session into a temporary folder."
    from robustness_study.site import render_offline
    cwd = os.getcwd(); os.chdir(ROOT)
    try: return render_offline(out=tmp_path_factory.mktemp('browser-site')/'_docs', log=lambda s: None)
    finally: os.chdir(cwd)

@pytest.fixture(scope='session')
def served(site):
    with SiteServer(site) as s: yield s

@pytest.fixture(scope='session')
def measured(browser, served, out_dir):
    "MEASURE on every key page at both widths (with a screenshot of each); {(page, width): result}."
    res = {}
    for name in KEY_PAGES:
        for w in WIDTHS:
            pg, errors, failed = open_page(browser, served.url + name, w)
            res[name, w] = dict(pg.evaluate(MEASURE), errors=errors, failed=failed)
            pg.screenshot(path=str(out_dir/f'{name[:-5]}-{w}.png'))
            pg.close()
    (out_dir/'measured.json').write_text(json.dumps({f'{k[0]}@{k[1]}': v for k, v in res.items()}, indent=1))
    return res


def test_every_page_loads_and_every_link_resolves(browser, served, site, out_dir):
    "Every page reachable from the front page loads with no JavaScript error, 4xx, broken image or traceback; every local link and anchor exists."
    report, ids, links = crawl(browser, served)
    pages = sorted(p.name for p in site.glob('*.html') if p.name not in ('genindex.html', 'search.html'))
    assert {'/' + p for p in pages} <= set(report), sorted({'/' + p for p in pages} - set(report))
    bad = {k: v for k, v in report.items() if v}
    bad_links = link_problems(served, ids, links)
    (out_dir/'crawl.json').write_text(json.dumps({'pages': report, 'links': len(links), 'bad_links': bad_links}, indent=1))
    assert not bad, json.dumps(bad, indent=1)
    assert not bad_links, '\n'.join(bad_links)
    assert len(links) > 500, len(links)   # the sidebar alone links every page from every page


@pytest.mark.parametrize('name', KEY_PAGES)
def test_layout_at_1280_and_400(measured, name):
    "A content column of at least 750 px at 1280; figures at their natural size up to the column; no prose wider than a 400 px window."
    for w in WIDTHS:
        m = measured[name, w]
        assert not m['errors'] and not m['failed'], (w, m['errors'], m['failed'])
        if w == 1280: assert m['column'] >= 750, f"content column {m['column']:.0f} px at 1280"
        assert m['scrollWidth'] <= m['W'], f"page scrolls sideways at {w}: {m['scrollWidth']} > {m['W']}"
        assert not m['prose'], (w, m['prose'])
        for im in m['imgs']:
            assert im['ok'], im['src']
            assert abs(im['shown'] - min(im['natural'], m['column'])) <= 2, (w, im)   # natural size, or the column's width
    if name == '20_study.html':   # the heatmap (the widest figure) is readable
        assert max(i['shown'] for i in measured[name, 1280]['imgs']) >= 700


def test_no_page_scrolls_sideways_at_400(browser, served, site):
    "Every page of the site fits a 400 px window: no sideways scroll and no prose wider than the window (long inline code wraps)."
    bad = {}
    for f in sorted(Path(site).glob('*.html')):
        pg, errors, failed = open_page(browser, served.url + f.name, 400)
        if pg.query_selector('article.bd-article'):   # the generated index and search pages have no article
            m = pg.evaluate(MEASURE)
            if m['scrollWidth'] > m['W'] or m['prose']: bad[f.name] = (m['scrollWidth'], m['prose'][:3])
        pg.close()
    assert not bad, bad


@pytest.mark.parametrize('name', KEY_PAGES)
def test_text_math_and_headings(measured, name):
    "No raw `$` math and no `{target=...}` in the visible text; math rendered as MathML; headings do not skip a level."
    m = measured[name, 1280]
    assert not m['dollars'], m['dollars'][:10]
    assert m['targets'] == 0
    assert m['mathFallback'] == 0
    if name in ('08_average_case.html', '20_study.html', '10_analysis.html'): assert m['math'] >= 5, m['math']
    assert not m['jumps'], m['jumps']
    if name in OWN_FIGURES:
        for im in m['imgs']: assert len(im['alt']) > 30 and not im['alt'].startswith(('_images', 'Figure for:')), im


def test_titles(measured):
    "The front page's title says what the study is, once; other pages name themselves and the site."
    t = measured['index.html', 1280]['title']
    assert t.count('robustness_study') == 1 and 'Which cheap model metrics predict robustness?' in t, t
    assert measured['20_study.html', 1280]['title'] == 'The robustness-metrics study \u2014 robustness_study'


def test_study_page_opens_with_key_findings(measured, browser, served, out_dir):
    "The study page's key-findings box comes before its first code cell, and states the answer with its interval and the findings' verdicts."
    for w in WIDTHS:
        m = measured['20_study.html', w]
        assert m['keyFindings'] is not None and m['firstCode'] is not None and m['keyFindings'] < m['firstCode'], m
    pg, _, _ = open_page(browser, served.url + '20_study.html', 1280)
    box = pg.locator('.key-findings').first
    text = box.inner_text()
    runs = box.locator('thead th').all_inner_texts()[2:]   # one verdict column per run of the grid: this one, then the others
    box.screenshot(path=str(out_dir/'study-key-findings.png'))
    pg.close()
    assert 'Key findings' in text and '95% CI' in text and 'headline goal' in text, text[:500]
    assert runs[0] == 'this run' and len(runs) >= 2 and all(k in text.split('finding of the original study')[0] for k in runs[1:]), runs
    assert re.search(r'\(1a\).*\(1b\).*\(2\).*\(3\).*\(4\)', text, re.S) and re.search(r'CONFIRMED|PARTLY|REVERSED|REFUTED', text)


def test_model_table_sorts_and_filters(browser, served, out_dir):
    "The table of paper models: readable names with ids, sorted by a click on a header (twice: reversed), filtered by typing."
    pg, errors, _ = open_page(browser, served.url + '20_study.html', 1280)
    table = pg.locator('table.sortable-table').first
    heads = table.locator('thead th').all_inner_texts()
    assert heads[:2] == ['model', 'id'] and 'test acc' in heads, heads
    col = lambda i: table.evaluate(f"(t, i) => [...t.tBodies[0].rows].filter(r => !r.hidden).map(r => r.cells[i].textContent)", i)
    names, n = col(0), len(col(0))
    assert n >= 4 and all(re.match(r'(cnn|vgg)-', s) for s in names), names[:5]
    i = heads.index('test acc')
    table.locator('thead th').nth(i).click()
    up = [float(v) for v in col(i)]
    assert up == sorted(up), up
    table.locator('thead th').nth(i).click()
    down = [float(v) for v in col(i)]
    assert down == sorted(up, reverse=True)
    table.locator('thead th').nth(0).click()
    assert col(0) == sorted(names)
    pg.locator('input.table-filter').first.fill('vgg')
    kept = col(0)
    assert 0 < len(kept) < n and all('vgg' in s for s in kept), kept
    table.scroll_into_view_if_needed(); pg.screenshot(path=str(out_dir/'study-model-table.png'))
    links = pg.eval_on_selector_all('a[href*="_downloads"]', 'as => as.map(a => a.textContent.trim())')
    pg.close()
    assert {'results.csv', 'last_run.json'} <= set(links), links
    assert not errors, errors


def test_search_works_offline(browser, served):
    "Sphinx's search finds the study page from the site's own index."
    pg, errors, failed = open_page(browser, served.url + 'search.html?q=holistically', 1280)
    pg.wait_for_selector('#search-results li a', timeout=20_000)
    hits = pg.eval_on_selector_all('#search-results li a', 'as => as.map(a => a.getAttribute("href"))')
    pg.close()
    assert any('20_study' in h for h in hits), hits
    assert not errors and not failed, (errors, failed)


BAD_SITE = {
    'index.html': '<html><head><title>Home</title></head><body><a href="good.html">Good</a> <a href="bad.html">Bad</a> '
                  '<a href="gone.html">Gone</a> <a href="good.html#nowhere">Nowhere</a> <a href="good.html#here">Here</a></body></html>',
    'good.html': '<html><head><title>Good</title></head><body><h1 id="here">Good page</h1><img src="ok.png"></body></html>',
    'bad.html': '<html><head><title>Bad</title></head><body><img src="missing.png"><pre>Traceback (most recent call last):\n'
                'ValueError: boom</pre><script>undefinedFunction()</script></body></html>',
}

def test_checker_catches_a_broken_site(browser, tmp_path):
    "The same crawl on a hand-written site reports the missing page and image, the anchor, the traceback and the script error."
    from PIL import Image
    d = tmp_path/'site'; d.mkdir()
    Image.new('RGB', (4, 4), (200, 30, 30)).save(d/'ok.png')
    for name, page in BAD_SITE.items(): (d/name).write_text(page)
    with SiteServer(d) as s:
        report, ids, links = crawl(browser, s)
        bad_links = link_problems(s, ids, links)
    assert report['/index.html'] == [] and report['/good.html'] == [], report
    assert report['/gone.html'] == ['missing page (/gone.html is not in the site)']
    bad = '\n'.join(report['/bad.html'])
    for expected in ('JavaScript error', 'HTTP 404', 'image not displayed: missing.png', 'Python traceback'): assert expected in bad, bad
    assert sorted(bad_links) == ['/index.html: broken link ' + s.url + 'gone.html', '/index.html: no anchor #nowhere in /good.html'], bad_links
