"""Telegram through a proxy: ``[telegram] proxy`` or the standard variables, for ``figbot run``
and every command that calls Telegram, the proxy's credentials never shown.

The proxy is pproxy (an HTTP and SOCKS5 proxy server from PyPI) run as a process on
127.0.0.1, asking for a user and password; its own log of connections shows what went
through it, and with it stopped the bot cannot reach the Bot API server at all.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme

from bot.config import ConfigError, load_config, proxy_from_environment
from bot.fakeapi import LocalBotApiServer
from tests.conftest import EXAMPLE_CONFIG, TEST_TOKEN, Clock
from tests.processes import RunningFigbot, run_figbot
from tests.test_unreachable import (
    assert_no_traceback_nor_token,
    debug_config,
)

USER = "figbot"
PASSWORD = "s3cr@t:pr0xy"  # with the characters a URL must percent-encode
API = "https://api.telegram.org/bot"


class Proxy:
    """pproxy listening for HTTP and SOCKS5 on one port, every connection authenticated."""

    def __init__(self) -> None:
        self.port = 0
        self.lines: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    def url(self, scheme: str, password: str = PASSWORD) -> str:
        return f"{scheme}://{USER}:{quote(password, safe='')}@127.0.0.1:{self.port}"

    def connections_to(self, port: int) -> int:
        return sum(1 for line in self.lines if line.rstrip().endswith(f"-> 127.0.0.1:{port}"))

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            "-m",
            "pproxy",
            "-l",
            f"http+socks5://127.0.0.1:0#{USER}:{PASSWORD}",
            "-v",
            "--auth",
            "0",  # ask every connection for the credentials, not once per client address
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self._process.stdout is not None
        first = (await asyncio.wait_for(self._process.stdout.readline(), 30)).decode()
        match = re.search(r"127\.0\.0\.1:(\d+)", first)
        assert match, first
        self.port = int(match[1])
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            self.lines.append(line.decode())

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        if self._reading is not None:
            await self._reading

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _secrets_absent(*outputs: str) -> None:
    assert_no_traceback_nor_token(*outputs)
    for output in outputs:
        assert PASSWORD not in output and quote(PASSWORD, safe="") not in output


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h"])
async def test_run_and_the_cli_reach_telegram_only_through_the_configured_proxy(
    scheme: str, server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    async with Proxy() as proxy:
        config = debug_config(tmp_path, db_url, server.base_url, proxy=proxy.url(scheme))
        code, link, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", clock=clock
        )
        assert code == 0, err
        assert proxy.connections_to(server.port) == 1  # getMe, for the bot's name
        invite = link.strip().rpartition("=")[2]
        outputs = [err]

        async with RunningFigbot(config, clock=clock) as bot:
            server.add_user(1001, "王芳")
            await server.send_text(1001, f"/start {invite}")
            assert "金海社区" in (await server.wait_for_message(1001, timeout=60)).text
            code, out, log = await bot.stop()
        assert code == 0
        assert f"through the proxy {scheme}://127.0.0.1:{proxy.port})" in log
        assert proxy.connections_to(server.port) >= 3  # its own connections: getMe, polls, sends
        outputs += [out, log]

    # The proxy is gone: nothing reaches the Bot API server, and the admin is told why.
    calls = len(server.calls)
    code, out, err = await run_figbot(
        "--config", str(config), "invite", "--unit", "jinhai", clock=clock
    )
    assert code == 1 and out == ""
    assert err.endswith(
        f"figbot: cannot reach the Telegram Bot API at 127.0.0.1:{server.port} (through the "
        f"proxy {scheme}://127.0.0.1:{proxy.port}): cannot connect to the proxy "
        "(connection refused)\n"
    )
    assert len(server.calls) == calls
    _secrets_absent(*outputs, out, err)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scheme", "refusal"),
    [
        ("http", "the proxy answered 407 Proxy Authentication Required"),
        ("socks5", "the proxy refused:"),
    ],
)
async def test_wrong_proxy_credentials_are_one_line(
    scheme: str, refusal: str, server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    async with Proxy() as proxy:
        wrong = proxy.url(scheme, password="not-the-password")
        config = debug_config(tmp_path, db_url, server.base_url, proxy=wrong)
        code, out, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", clock=clock
        )
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("figbot:")]
    assert f"(through the proxy {scheme}://127.0.0.1:{proxy.port}): {refusal}" in line
    assert "not-the-password" not in out + err
    assert server.calls == []
    assert_no_traceback_nor_token(out, err)


@pytest.mark.slow
async def test_the_standard_proxy_variables_are_followed_and_no_proxy_exempts(
    server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    async with Proxy() as proxy:
        config = debug_config(tmp_path, db_url, server.base_url)
        through = {"ALL_PROXY": proxy.url("socks5")}
        code, out, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", env=through, clock=clock
        )
        assert code == 0, err
        assert proxy.connections_to(server.port) == 1
        _secrets_absent(out, err)

        exempt = {**through, "NO_PROXY": "localhost,127.0.0.1"}
        code, out, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", env=exempt, clock=clock
        )
        assert code == 0, err
        assert proxy.connections_to(server.port) == 1  # straight to the server this time


def test_which_proxy_the_standard_variables_name_for_telegram() -> None:
    assert proxy_from_environment(API, {}) == ""
    assert proxy_from_environment(API, {"HTTPS_PROXY": "http://10.0.0.1:3128"}) == (
        "http://10.0.0.1:3128"
    )
    # HTTPS_PROXY before ALL_PROXY; HTTP_PROXY is for http:// addresses only; lower case wins.
    both = {"ALL_PROXY": "socks5://10.0.0.2:1080", "HTTPS_PROXY": "http://10.0.0.1:3128"}
    assert proxy_from_environment(API, both) == "http://10.0.0.1:3128"
    assert proxy_from_environment(API, {"HTTP_PROXY": "http://10.0.0.1:3128"}) == ""
    assert proxy_from_environment(API, {"ALL_PROXY": "socks5h://u:p@10.0.0.2:1080"}) == (
        "socks5h://u:p@10.0.0.2:1080"
    )
    assert proxy_from_environment(API, {"https_proxy": "proxy.corp:3128"}) == (
        "http://proxy.corp:3128"  # no scheme: an HTTP proxy, as curl takes it
    )
    lower = {"HTTPS_PROXY": "http://10.0.0.1:3128", "https_proxy": "http://10.0.0.9:3128"}
    assert proxy_from_environment(API, lower) == "http://10.0.0.9:3128"
    for exempt in ("api.telegram.org", ".telegram.org", "localhost,telegram.org", "*"):
        assert proxy_from_environment(API, {**both, "NO_PROXY": exempt}) == ""
    assert proxy_from_environment(API, {**both, "NO_PROXY": "example.org"}) != ""
    with pytest.raises(ConfigError, match=r"^HTTPS_PROXY \(the proxy for the Bot API\): must"):
        proxy_from_environment(API, {"HTTPS_PROXY": "ftp://10.0.0.1:21"})


def test_the_configured_proxy_wins_is_checked_and_is_kept_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    path.write_text(
        text.replace('proxy = ""', 'proxy = "socks5://u:hunter2@10.0.0.2:1080"'), encoding="utf-8"
    )
    config = load_config(path, environ={"HTTPS_PROXY": "http://10.0.0.1:3128"})
    assert config.telegram.proxy.get_secret_value() == "socks5://u:hunter2@10.0.0.2:1080"
    assert config.telegram.proxy_host == "socks5://10.0.0.2:1080"
    assert "hunter2" not in repr(config) and "hunter2" in config.secrets()
    plain = load_config(EXAMPLE_CONFIG, environ={"FIGBOT_TELEGRAM_TOKEN": TEST_TOKEN})
    assert plain.secrets() == []  # the token is redacted by name, not in this list

    for bad, message in [
        ("ftp://10.0.0.1:21", "must start with http://, https://, socks5:// or socks5h://"),
        ("socks5://10.0.0.2", "must name the proxy's host and port"),
        ("http://10.0.0.1:3128/path", "must be only scheme://[user:password@]host:port"),
    ]:
        path.write_text(text.replace('proxy = ""', f'proxy = "{bad}"'), encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(f"telegram.proxy: {message}")):
            load_config(path, environ={})


@pytest.mark.slow
async def test_https_to_telegram_goes_through_an_http_proxy_tunnel_named_by_https_proxy(
    db_url: str, tmp_path: Path, clock: Clock
) -> None:
    """Telegram's own case: the Bot API over HTTPS, the proxy (with a login) opening a tunnel
    for it (CONNECT), the proxy taken from HTTPS_PROXY in the service's environment."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    trusted = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(trusted))
    async with (
        LocalBotApiServer(token=TEST_TOKEN, ssl_context=context) as server,
        Proxy() as proxy,
    ):
        assert server.base_url.startswith("https://")
        config = debug_config(tmp_path, db_url, server.base_url)
        env = {"HTTPS_PROXY": proxy.url("http"), "SSL_CERT_FILE": str(trusted)}
        code, out, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", env=env, clock=clock
        )
        assert code == 0, err
        assert proxy.connections_to(server.port) == 1
        assert [name for name, _ in server.calls] == ["getMe"]
        _secrets_absent(out, err)

        code, out, err = await run_figbot(
            "--config",
            str(config),
            "invite",
            "--unit",
            "jinhai",
            env={**env, "HTTPS_PROXY": ""},
            clock=clock,
        )
        assert code == 0, err  # straight to the server: the proxy saw nothing more
        assert proxy.connections_to(server.port) == 1
