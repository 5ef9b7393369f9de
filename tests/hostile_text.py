"""Strings from files, uploads and links that Markdown, GFM or HTML would turn into something
else than text: links, autolinks (URLs, `www.`, e-mail addresses), images, HTML, directives."""

HOSTILE_STRINGS = [
    "![x](http://evil.example/img.png)",
    "[click](http://phish.example)",
    "https://phish.example/login",
    "Session expired: sign in again at https://phish.example/login",
    "www.evil.example",
    "WWW.Evil.Example/path",
    "admin@evil.example",
    "mailto:admin@evil.example",
    "xmpp:admin@evil.example/res",
    "<a href='http://evil.example'>x</a>",
    "<img src=http://evil.example/x.png>",
    "<http://evil.example>",
    "[ref]: http://evil.example\n[ref]",
    "x](http://evil.example)",
    ":red[alarm] :material/home: $x^2$",
    "line one\nline two\r\n# heading",
    "`code` ``double``",
    "\u202eevil\u202c gpj.exe",
    "x\ud800y",
    "ftp://evil.example",
    "http://evil.example",
]
