"""The rendered site in a real browser: headless Chromium loads `index.html` and every page it links from a
local HTTP server; a missing page, a broken image or a Python traceback in a page fails the test. The index's screenshot
is saved under `$ROBUSTNESS_STUDY_TEST_OUTPUT/browser/` (`.ci/run` sets it to `test-output/`).

Chromium is Debian's `chromium` (`.ci/run` installs it). Without it the tests skip, except under `CI_STRICT_BROWSER=1`
(exported by `.ci/run`), where they fail: in CI a missing browser is a broken setup, not a reason to pass."""
import base64, binascii, functools, html.parser, http.server, json, os, re, shutil, signal, subprocess, threading
import urllib.parse
from pathlib import Path
import pytest
from conftest import ROOT

TIMEOUT = 60  # seconds per chromium call
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-extensions',
         '--no-first-run', '--no-default-browser-check', '--hide-scrollbars', '--virtual-time-budget=5000']
# Injected into every served HTML page (only by the test server, never into the site's files): once the page's load
# event has fired, the browser itself records which <img> elements failed to decode (complete but naturalWidth == 0) and
# any uncaught JavaScript error, as a JSON attribute on <html> that `--dump-dom` then shows us.
PROBE = """<script>(function(){var errs=[];
window.addEventListener('error',function(e){errs.push(String(e.message||e.type));},true);
window.addEventListener('load',function(){var bad=[],ims=document.images;
for(var i=0;i<ims.length;i++){var im=ims[i];if(!(im.complete&&im.naturalWidth>0))bad.push((im.getAttribute('src')||'').slice(0,120));}
document.documentElement.setAttribute('data-browser-check',JSON.stringify({images:ims.length,broken:bad,errors:errs}));});
})();</script>"""
IGNORED_404 = {'/favicon.ico'}  # the browser asks for it on its own; the site never links it
TRACEBACK = 'Traceback (most recent call last)'
EXC_LINE = re.compile(r'^[ \t]*(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Interrupt)(?::[ \t].*)?[ \t]*$', re.M)


# ---------------------------------------------------------------------------------------------------------- browser
def _strict() -> bool: return os.environ.get('CI_STRICT_BROWSER') == '1'

@pytest.fixture(scope='session')
def chromium():
    "Path of Debian's `chromium`; skips without it, or fails under `CI_STRICT_BROWSER=1`."
    exe = shutil.which('chromium')
    if exe is None:
        msg = "Debian's `chromium` is not on PATH (install: apt-get install -y chromium; .ci/run does it)"
        if _strict(): pytest.fail(msg + ' and CI_STRICT_BROWSER=1: the browser test must run in CI', pytrace=False)
        pytest.skip(msg)
    return exe

def run_chromium(exe, args, profile, timeout=TIMEOUT) -> str:
    "Run headless chromium with a throwaway profile; returns stdout. Kills the whole process group afterwards."
    cmd = [exe, *FLAGS, f'--user-data-dir={profile}', *map(str, args)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True,
                         env=dict(os.environ, HOME=str(profile)))
    try: out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.communicate()
        raise AssertionError(f'chromium took more than {timeout}s: {" ".join(cmd)}')
    finally:
        try: os.killpg(p.pid, signal.SIGKILL)  # renderer/zygote leftovers; the group is ours (new session)
        except ProcessLookupError: pass
    if p.returncode != 0:
        raise AssertionError(f'chromium exited with {p.returncode}: {" ".join(cmd)}\n{err[-3000:]}')
    return out


# ----------------------------------------------------------------------------------------------------------- server
class _Handler(http.server.SimpleHTTPRequestHandler):
    "Static files; logs (path, status) of every request on the server; adds `PROBE` to HTML pages."
    def log_request(self, code='-', size='-'):
        self.server.requests.append((urllib.parse.unquote(urllib.parse.urlsplit(self.path).path), int(code)))
    def log_message(self, *args): pass
    def do_GET(self):
        f = Path(self.translate_path(self.path))
        if f.is_dir(): f = f/'index.html'
        if f.suffix != '.html' or not f.is_file(): return super().do_GET()
        page = f.read_text(encoding='utf-8')
        i = page.rfind('</body>'); page = (page[:i] + PROBE + page[i:]) if i >= 0 else page + PROBE
        data = page.encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8'); self.send_header('Content-Length', str(len(data)))
        self.end_headers(); self.wfile.write(data)

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


# ---------------------------------------------------------------------------------------------------------- checker
class _Dom(html.parser.HTMLParser):
    "What the checks need from a dumped DOM: title, images, links, text of the body and of the output areas."
    VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}
    def __init__(self, dom):
        super().__init__(convert_charrefs=True)
        self.title, self.imgs, self.links, self.sidebar, self.text, self.out_text = '', [], [], [], [], []
        self.error_blocks, self.probe, self._stack = 0, None, []
        self.feed(dom); self.close()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs); cls = (a.get('class') or '').split()
        if tag == 'html' and 'data-browser-check' in a: self.probe = json.loads(a['data-browser-check'])
        if tag == 'img': self.imgs.append(a.get('src') or '')
        if tag == 'a' and a.get('href') is not None:
            self.links.append(a['href'])
            if any(t == 'nav' and 'sidebar' in c for t, c, _ in self._stack): self.sidebar.append(a['href'])
        if 'output_error' in cls: self.error_blocks += 1
        if tag not in self.VOID: self._stack.append((tag, cls, 'output_area' in cls or 'output_subarea' in cls))
    def handle_endtag(self, tag):
        for i in range(len(self._stack) - 1, -1, -1):  # pop to the matching open tag
            if self._stack[i][0] == tag: del self._stack[i:]; break
    def handle_data(self, data):
        tags = [t for t, _, _ in self._stack]
        if 'title' in tags: self.title += data
        if 'body' not in tags or 'script' in tags or 'style' in tags: return
        self.text.append(data)
        if any(o for _, _, o in self._stack): self.out_text.append(data)

def _image_kind(b: bytes) -> str | None:
    "'png'/'jpeg'/'gif'/'webp'/'svg' from the bytes' signature, or None."
    if b.startswith(b'\x89PNG\r\n\x1a\n'): return 'png'
    if b.startswith(b'\xff\xd8\xff'): return 'jpeg'
    if b[:6] in (b'GIF87a', b'GIF89a'): return 'gif'
    if b[:4] == b'RIFF' and b[8:12] == b'WEBP': return 'webp'
    if b'<svg' in b[:2000].lower(): return 'svg'
    return None

def _data_uri_bytes(uri: str) -> bytes:
    head, _, payload = uri.partition(',')
    if head.endswith(';base64'): return base64.b64decode(re.sub(r'\s+', '', payload), validate=True)
    return urllib.parse.unquote_to_bytes(payload)

def check_page(dom: str, url: str, server: SiteServer) -> tuple[list[str], list[str]]:
    "Problems found in one page's dumped DOM, and the absolute URLs of the pages on this site that it links."
    d, problems = _Dom(dom), []
    path = urllib.parse.urlsplit(url).path
    f = server.root/urllib.parse.unquote(path).lstrip('/')
    if not f.is_file(): return [f'missing page ({path} is not in the site)'], []
    want = _Dom(f.read_text(encoding='utf-8')).title.strip()
    if not d.title.strip(): problems.append('empty <title> in the rendered page')
    elif d.title.strip() != want: problems.append(f'title {d.title.strip()!r} != {want!r}')
    body = ''.join(d.text)
    if len(body.strip()) < 20: problems.append('page body is (nearly) empty')
    if TRACEBACK in body: problems.append('Python traceback in the page')
    if d.error_blocks: problems.append(f'{d.error_blocks} error output block(s) (class output_error)')
    for m in EXC_LINE.finditer(''.join(d.out_text)): problems.append(f'exception in an output: {m.group(0).strip()[:200]!r}')
    if d.probe is None: problems.append('the page never fired its load event within the virtual time budget')
    else:
        for src in d.probe['broken']: problems.append(f'the browser could not display image {src!r}')
        for e in d.probe['errors']: problems.append(f'JavaScript error: {e}')
        if d.probe['images'] != len(d.imgs): problems.append(f"{d.probe['images']} images loaded, {len(d.imgs)} in the DOM")
    ok = {p for p, s in server.requests if s == 200}
    for src in d.imgs:
        if src.startswith('data:'):
            try: kind = _image_kind(_data_uri_bytes(src))
            except (binascii.Error, ValueError) as e: problems.append(f'data: image does not decode ({e})'); continue
            if kind is None: problems.append(f'data: image is not PNG/JPEG/GIF/WebP/SVG ({src[:40]}...)')
            continue
        u = urllib.parse.urlsplit(urllib.parse.urljoin(url, src))
        if f'{u.scheme}://{u.netloc}/' != server.url: problems.append(f'image from outside the site: {src}'); continue
        p = urllib.parse.unquote(u.path)
        if p not in ok: problems.append(f'image {src} was not served (200) to the browser')
        fi = server.root/p.lstrip('/')
        if not fi.is_file() or _image_kind(fi.read_bytes()) is None: problems.append(f'image {src} is not a valid image file')
    pages = []
    for href in d.links:
        u = urllib.parse.urlsplit(urllib.parse.urljoin(url, href))
        if f'{u.scheme}://{u.netloc}/' != server.url: continue  # external or mailto
        if u.path.endswith(('.html', '/')): pages.append(urllib.parse.urlunsplit(u._replace(fragment='', query='')))
        elif not (server.root/urllib.parse.unquote(u.path).lstrip('/')).is_file(): problems.append(f'broken link {href}')
    return problems, pages

def crawl(exe, server: SiteServer, work: Path, start='index.html', dumps: Path | None = None) -> dict:
    "Load `start` and every page reachable through links in Chromium; returns {page path: [problems]} plus 'server' (4xx/5xx)."
    work.mkdir(parents=True, exist_ok=True)
    todo, seen, report = [server.url + start], set(), {}
    while todo:
        url = todo.pop(0)
        if url in seen: continue
        seen.add(url)
        path = urllib.parse.urlsplit(url).path
        dom = run_chromium(exe, ['--dump-dom', url], work/f'profile{len(seen)}')
        report[path], links = check_page(dom, url, server)
        if dumps and report[path]:  # keep the DOM of a failing page for the CI artefacts
            dumps.mkdir(parents=True, exist_ok=True); (dumps/(path.strip('/').replace('/', '_') or 'root')).write_text(dom)
        todo += [l for l in links if l not in seen]
    report['server'] = [f'HTTP {s} for {p}' for p, s in server.requests if s >= 400 and p not in IGNORED_404]
    report['visited'] = sorted(urllib.parse.urlsplit(u).path for u in seen)
    return report

def _problems(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != 'visited' and v}


# ------------------------------------------------------------------------------------------------------- the site
def _out_dir(tmp_path_factory) -> Path:
    o = os.environ.get('ROBUSTNESS_STUDY_TEST_OUTPUT')
    d = Path(o)/'browser' if o else tmp_path_factory.mktemp('browser-out')
    d.mkdir(parents=True, exist_ok=True); return d

@pytest.fixture(scope='session')
def site(tmp_path_factory):
    "The offline-rendered site, built once per session."
    from robustness_study.site import render_offline
    cwd = os.getcwd(); os.chdir(ROOT)
    try: return render_offline(out=tmp_path_factory.mktemp('browser-site')/'_docs', readme=False)
    finally: os.chdir(cwd)

@pytest.fixture(scope='session')
def served(site):
    with SiteServer(site) as s: yield s

@pytest.fixture(scope='session')
def site_report(chromium, served, tmp_path_factory):
    out = _out_dir(tmp_path_factory)
    r = crawl(chromium, served, tmp_path_factory.mktemp('chromium'), dumps=out/'dom')
    (out/'report.json').write_text(json.dumps({**r, 'requests': served.requests}, indent=1))
    return r


def test_every_linked_page_loads_cleanly(site_report, site):
    "Index and every linked page: found, titled, no traceback/error output, every image displayed; no 4xx on the server."
    pages = sorted(p.name for p in site.glob('*.html'))
    sidebar = _Dom((site/'index.html').read_text()).sidebar
    assert len(pages) >= 5 and set(pages) <= {s for s in sidebar}, (pages, sidebar)
    assert {'/' + p for p in pages} <= set(site_report['visited']), site_report['visited']
    bad = _problems(site_report)
    assert not bad, 'browser check failed:\n' + json.dumps(bad, indent=1)


def test_index_screenshot(chromium, served, tmp_path_factory):
    "A screenshot of the index in Chromium: a real image, not a blank page."
    from PIL import Image
    png = _out_dir(tmp_path_factory)/'index.png'
    png.unlink(missing_ok=True)
    run_chromium(chromium, [f'--screenshot={png}', '--window-size=1280,1600', served.url + 'index.html'],
                 tmp_path_factory.mktemp('chromium-shot'))
    assert png.is_file() and png.stat().st_size > 10_000, png
    with Image.open(png) as im:
        assert im.size == (1280, 1600), im.size
        colours = im.convert('RGB').getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 16, f'screenshot has {len(colours or [])} colours: blank page?'


BAD_SITE = {
    'index.html': '<html><head><title>Home</title></head><body><nav class="sidebar"><a href="good.html">Good</a>'
                  '<a href="bad.html">Bad</a><a href="gone.html">Gone</a></nav><main><h1>Home</h1><p>{}</p></main></body></html>',
    'good.html': '<html><head><title>Good</title></head><body><main><h1>Good page</h1><img src="ok.png">'
                 '<img src="data:image/png;base64,{png}"><p>{}</p></main></body></html>',
    'bad.html': '<html><head><title>Bad</title></head><body><main><h1>Bad page</h1><img src="missing.png">'
                '<img src="data:image/png;base64,bm90IGFuIGltYWdl"><div class="output_area"><div class="output_subarea '
                'output_text output_error"><pre>Traceback (most recent call last):\n  File "x.py", line 1\n'
                'ValueError: boom</pre></div></div><p>{}</p></main></body></html>',
}

def test_checker_fails_on_a_broken_site(chromium, tmp_path):
    "The same crawl on a hand-written site: a missing page, broken images and a traceback are all reported; a good page is not."
    from PIL import Image
    import io
    d = tmp_path/'site'; d.mkdir()
    buf = io.BytesIO(); Image.new('RGB', (4, 4), (200, 30, 30)).save(buf, 'PNG')
    (d/'ok.png').write_bytes(buf.getvalue())
    filler = 'Some text so that the page is not empty.'
    for name, page in BAD_SITE.items():
        (d/name).write_text(page.replace('{png}', base64.b64encode(buf.getvalue()).decode()).replace('{}', filler))
    with SiteServer(d) as s: r = crawl(chromium, s, tmp_path/'chromium')
    assert r['visited'] == ['/bad.html', '/gone.html', '/good.html', '/index.html'], r['visited']
    assert r['/index.html'] == [] and r['/good.html'] == [], r
    bad = '\n'.join(r['/bad.html'])
    for expected in ['Python traceback', 'error output block', "exception in an output: 'ValueError: boom'",
                     "could not display image 'missing.png'", 'could not display image \'data:image/png',
                     'image missing.png was not served', 'data: image is not PNG']:
        assert expected in bad, (expected, bad)
    assert r['/gone.html'] == ['missing page (/gone.html is not in the site)'], r['/gone.html']
    assert set(r['server']) == {'HTTP 404 for /gone.html', 'HTTP 404 for /missing.png'}, r['server']
