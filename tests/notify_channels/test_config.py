"""Building the channels from environment-style settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tidings.notify.channels.config import ChannelConfigError, build_channels
from tidings.notify.channels.file_sink import FileSink
from tidings.notify.channels.push_fcm import FcmPushAdapter
from tidings.notify.channels.sms_aliyun import AliyunSmsAdapter
from tidings.notify.channels.sms_http import HttpSmsAdapter
from tidings.notify.channels.smtp import SmtpEmailAdapter
from tidings.notify.channels.webhook import WebhookAdapter, generate_secret
from tidings.notify.types import ChannelName

from .conftest import MessageFactory

ALIYUN = {
    "type": "aliyun",
    "endpoint": "https://dysmsapi.aliyuncs.com/",
    "access_key_id": "LTAI5tConfigKey",
    "access_key_secret": "aliyun-secret-value",
    "sign_name": "Tidings钱包",
    "template_code": "SMS_1",
}
HTTP = {"type": "http", "url": "https://sms.example/v1", "api_key": "http-secret-key"}


def test_nothing_configured_sends_every_channel_to_the_file_sink(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    chains = build_channels({}, var_dir=tmp_path)
    assert set(chains) == {
        ChannelName.SMS,
        ChannelName.EMAIL,
        ChannelName.PUSH,
        ChannelName.WEBHOOK,
    }
    for channel, chain in chains.items():
        [provider] = chain.providers
        assert isinstance(provider, FileSink)
        assert provider.path == tmp_path / "messages.jsonl"
        assert chain.info.channel is channel
    chains[ChannelName.SMS].send(make_message())
    assert "138****8000" in (tmp_path / "messages.jsonl").read_text(encoding="utf-8")


def test_every_provider_type_is_built_in_order(tmp_path: Path) -> None:
    env = {
        "TIDINGS_SMS_PROVIDERS": json.dumps([ALIYUN, HTTP, HTTP]),
        "TIDINGS_EMAIL_PROVIDERS": json.dumps(
            [{"type": "smtp", "host": "127.0.0.1", "port": 2525, "sender": "noreply@t.example"}]
        ),
        "TIDINGS_PUSH_PROVIDERS": json.dumps(
            [{"type": "fcm", "project_id": "tidings-prod", "access_token": "ya29.token-value"}]
        ),
        "TIDINGS_WEBHOOK_SECRET": generate_secret(),
    }
    chains = build_channels(env, var_dir=tmp_path)
    sms = chains[ChannelName.SMS]
    assert [type(p) for p in sms.providers] == [AliyunSmsAdapter, HttpSmsAdapter, HttpSmsAdapter]
    assert [p.info.name for p in sms.providers] == ["aliyun", "http", "http-2"]
    assert all(b is not None for b in sms.breakers)
    assert isinstance(chains[ChannelName.EMAIL].providers[0], SmtpEmailAdapter)
    assert isinstance(chains[ChannelName.PUSH].providers[0], FcmPushAdapter)
    webhook = chains[ChannelName.WEBHOOK]
    assert isinstance(webhook.providers[0], WebhookAdapter)
    assert webhook.breakers == (None,)  # one dead receiver must not stop the others
    for chain in chains.values():
        chain.close()


def test_reprs_of_the_built_channels_leak_no_secret(tmp_path: Path) -> None:
    secret = generate_secret()
    env = {
        "TIDINGS_SMS_PROVIDERS": json.dumps([ALIYUN, HTTP]),
        "TIDINGS_PUSH_PROVIDERS": json.dumps(
            [{"type": "fcm", "project_id": "p", "access_token": "ya29.token-value"}]
        ),
        "TIDINGS_WEBHOOK_SECRET": secret,
    }
    text = repr(build_channels(env, var_dir=tmp_path))
    for leaked in ("aliyun-secret-value", "http-secret-key", "ya29.token-value", secret[6:]):
        assert leaked not in text
    assert "Tidings钱包" in text


def test_a_missing_field_names_the_variable_the_entry_and_the_field(tmp_path: Path) -> None:
    broken = {k: v for k, v in ALIYUN.items() if k != "access_key_secret"}
    env = {"TIDINGS_SMS_PROVIDERS": json.dumps([HTTP, broken])}
    with pytest.raises(ChannelConfigError) as caught:
        build_channels(env, var_dir=tmp_path)
    assert str(caught.value) == "TIDINGS_SMS_PROVIDERS[1].access_key_secret: Field required"


def test_a_misspelt_key_is_refused(tmp_path: Path) -> None:
    env = {"TIDINGS_SMS_PROVIDERS": json.dumps([{**HTTP, "apikey": "x"}])}
    with pytest.raises(ChannelConfigError, match=r"TIDINGS_SMS_PROVIDERS\[0\]\.apikey"):
        build_channels(env, var_dir=tmp_path)


def test_a_provider_of_another_channel_is_refused(tmp_path: Path) -> None:
    env = {"TIDINGS_EMAIL_PROVIDERS": json.dumps([HTTP])}
    with pytest.raises(ChannelConfigError) as caught:
        build_channels(env, var_dir=tmp_path)
    assert str(caught.value) == "TIDINGS_EMAIL_PROVIDERS[0].type: must be one of 'smtp'"


def test_a_missing_type_lists_the_choices(tmp_path: Path) -> None:
    env = {"TIDINGS_SMS_PROVIDERS": json.dumps([{"url": "https://x"}])}
    with pytest.raises(ChannelConfigError) as caught:
        build_channels(env, var_dir=tmp_path)
    assert str(caught.value) == "TIDINGS_SMS_PROVIDERS[0].type: must be one of 'aliyun', 'http'"


def test_invalid_json_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ChannelConfigError, match="TIDINGS_PUSH_PROVIDERS: not valid JSON"):
        build_channels({"TIDINGS_PUSH_PROVIDERS": "[{"}, var_dir=tmp_path)


def test_a_bad_webhook_secret_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ChannelConfigError, match=r"TIDINGS_WEBHOOK_SECRET: .*24"):
        build_channels({"TIDINGS_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, var_dir=tmp_path)


def test_duplicate_explicit_names_are_refused(tmp_path: Path) -> None:
    env = {"TIDINGS_SMS_PROVIDERS": json.dumps([{**HTTP, "name": "a"}, {**ALIYUN, "name": "a"}])}
    with pytest.raises(ChannelConfigError, match=r"TIDINGS_SMS_PROVIDERS\[1\]\.name"):
        build_channels(env, var_dir=tmp_path)


def test_smtp_login_without_tls_is_a_config_error(tmp_path: Path) -> None:
    smtp = {"type": "smtp", "host": "h", "sender": "a@b.example", "username": "u", "password": "p"}
    env = {"TIDINGS_EMAIL_PROVIDERS": json.dumps([smtp])}
    with pytest.raises(ChannelConfigError, match=r"TIDINGS_EMAIL_PROVIDERS\[0\]: .*starttls"):
        build_channels(env, var_dir=tmp_path)


def test_a_single_object_is_taken_as_a_list_of_one(tmp_path: Path) -> None:
    chains = build_channels({"TIDINGS_SMS_PROVIDERS": json.dumps(HTTP)}, var_dir=tmp_path)
    assert [p.info.name for p in chains[ChannelName.SMS].providers] == ["http"]


def test_reads_os_environ_when_given_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_SMS_PROVIDERS", json.dumps([HTTP]))
    chains = build_channels(None, var_dir=tmp_path)
    assert isinstance(chains[ChannelName.SMS].providers[0], HttpSmsAdapter)


def test_the_webhook_secret_may_list_a_second_one_for_a_rotation(tmp_path: Path) -> None:
    new, old = generate_secret(), generate_secret()
    chains = build_channels({"TIDINGS_WEBHOOK_SECRET": f"{new}, {old}"}, var_dir=tmp_path)
    assert isinstance(chains[ChannelName.WEBHOOK].providers[0], WebhookAdapter)
    text = repr(chains)
    assert new[6:] not in text
    assert old[6:] not in text
    with pytest.raises(ChannelConfigError, match="TIDINGS_WEBHOOK_SECRET"):
        build_channels({"TIDINGS_WEBHOOK_SECRET": f"{new} whsec_c2hvcnQ="}, var_dir=tmp_path)
