"""The media store port (§2, §3, §10): both adapters alike; keys cannot escape; S3 errors translated."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from s3server import SeaweedS3

from podcast_host.storage import (
    MIB,
    LocalStore,
    MediaStore,
    S3Store,
    StorageError,
    media_key,
    safe_name,
    store_from_url,
)

KEY = "shows/1/episodes/2/audio/episode.mp3"


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bucket(seaweedfs):
    """One bucket for the module, on the run's SeaweedFS server (conftest.py)."""
    return seaweedfs.make_bucket()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Test credentials through boto3's usual chain, isolated from any real AWS config on the machine."""
    for name, value in SeaweedS3().env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def make_s3_store(seaweedfs, bucket, **options) -> S3Store:
    """A store under a fresh prefix, so tests share one bucket without seeing each other's objects."""
    options = {"prefix": f"run-{uuid.uuid4().hex[:8]}", "multipart_threshold": 5 * MIB, **options}
    return S3Store(bucket, endpoint_url=seaweedfs.endpoint_url, **options)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request, tmp_path) -> MediaStore:
    if request.param == "local":
        return LocalStore(tmp_path / "media")
    request.getfixturevalue("aws_env")
    seaweedfs = request.getfixturevalue("seaweedfs")
    return make_s3_store(seaweedfs, request.getfixturevalue("bucket"))


@pytest.fixture
def s3_store(seaweedfs, bucket, aws_env) -> S3Store:
    return make_s3_store(seaweedfs, bucket)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# --- both backends ------------------------------------------------------------------------------------------


def test_each_store_implements_the_port(store):
    assert isinstance(store, MediaStore)


def test_bytes_go_in_and_come_back(store, tmp_path):
    store.put_bytes(KEY, b"ID3 fake episode", "audio/mpeg")

    assert store.exists(KEY)
    assert store.size(KEY) == 16
    with store.open(KEY) as handle:
        assert handle.read(3) == b"ID3"  # a streaming handle: partial reads work
        assert handle.read() == b" fake episode"
    store.download(KEY, tmp_path / "copy.mp3")
    assert (tmp_path / "copy.mp3").read_bytes() == b"ID3 fake episode"


def test_a_second_put_replaces_the_object(store):
    store.put_bytes(KEY, b"first", "audio/mpeg")
    store.put_bytes(KEY, b"second take", "audio/mpeg")

    with store.open(KEY) as handle:
        assert handle.read() == b"second take"


def test_delete_removes_the_object_and_tolerates_a_missing_one(store):
    store.put_bytes(KEY, b"x", "audio/mpeg")

    store.delete(KEY)
    store.delete(KEY)

    assert not store.exists(KEY)


def test_a_large_file_round_trips_intact(store, tmp_path):
    """12 MB is over the 5 MiB multipart threshold of the S3 test store: it goes up in three parts."""
    source = tmp_path / "long-episode.mp3"
    source.write_bytes(os.urandom(12 * 1000 * 1000))

    store.put_file(KEY, source, "audio/mpeg")
    store.download(KEY, tmp_path / "back.mp3")

    assert store.size(KEY) == source.stat().st_size
    assert sha256(tmp_path / "back.mp3") == sha256(source)
    with store.open(KEY) as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == sha256(source)


@pytest.mark.parametrize("action", ["open", "size", "download"])
def test_a_missing_object_raises_file_not_found(store, tmp_path, action):
    calls = {
        "open": lambda: store.open(KEY),
        "size": lambda: store.size(KEY),
        "download": lambda: store.download(KEY, tmp_path / "nothing.mp3"),
    }
    with pytest.raises(FileNotFoundError):
        calls[action]()
    assert not store.exists(KEY)


@pytest.mark.parametrize(
    "key", ["../escape.mp3", "/etc/passwd", "shows/../../x", "shows/./x", "a\\b", "a//b", "", "x\x00y"]
)
def test_stores_refuse_keys_that_could_escape(store, key):
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x", "audio/mpeg")
    with pytest.raises(ValueError):
        store.exists(key)


def test_check_tells_a_store_that_answers_from_one_that_does_not(store, tmp_path):
    store.check()
    if isinstance(store, LocalStore):
        blocker = tmp_path / "blocker"
        blocker.write_bytes(b"a file where the media folder's parent should be")
        unreachable: MediaStore = LocalStore(blocker / "media")
    else:
        unreachable = S3Store("no-bucket-by-this-name", endpoint_url=store.endpoint_url)
    with pytest.raises(StorageError):
        unreachable.check()


# --- keys ---------------------------------------------------------------------------------------------------


def test_keys_follow_one_layout():
    assert media_key(12, "audio", "episode.mp3", episode_id=345) == "shows/12/episodes/345/audio/episode.mp3"
    assert media_key(12, "image", "cover.jpg") == "shows/12/image/cover.jpg"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../x.mp3", "x.mp3"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\windows\\x.mp3", "x.mp3"),
        ("C:\\Users\\me\\Episode 1.mp3", "Episode_1.mp3"),
        (".hidden.mp3", "hidden.mp3"),
        ("-vf evil.mp3", "vf_evil.mp3"),
        ("what?#%&.mp3", "what_.mp3"),
        ("line\nbreak\t.mp3", "line_break_.mp3"),
        ("نشرة الأخبار.mp3", "نشرة_الأخبار.mp3"),
        ("trailing dots...", "trailing_dots"),
    ],
)
def test_names_are_reduced_to_a_safe_basename(name, safe):
    assert safe_name(name) == safe
    assert media_key(1, "original", name, episode_id=2) == f"shows/1/episodes/2/original/{safe}"


@pytest.mark.parametrize("name", ["", "..", ".", "/", "\\", "   ", "../", "x\x00.mp3", "....", "\x00"])
def test_names_with_nothing_safe_left_are_refused(name):
    with pytest.raises(ValueError):
        media_key(1, "audio", name, episode_id=2)


def test_over_long_names_are_shortened_keeping_the_extension():
    name = safe_name("ا" * 300 + ".mp3")

    assert name.endswith(".mp3")
    assert len(name.encode()) <= 200


@pytest.mark.parametrize(
    "name", ["../" * 20 + "etc/passwd", "..", "a/../../b", "%2e%2e/x", "\\\\server\\share\\x", "/" * 10 + "x"]
)
def test_keys_never_escape_their_show_folder(name):
    try:
        key = media_key(7, "transcript", name, episode_id=8)
    except ValueError:
        return
    prefix, _, last = key.rpartition("/")
    assert prefix == "shows/7/episodes/8/transcript"
    assert last not in ("", ".", "..") and "/" not in last and "\\" not in last


@pytest.mark.parametrize(
    ("show_id", "kind", "episode_id"),
    [
        (12, "video", None),
        (0, "audio", None),
        (-1, "audio", None),
        (True, "audio", None),
        ("12", "audio", None),
        (12, "audio", 0),
        (12, "audio", "3"),
    ],
)
def test_bad_kinds_and_ids_are_refused(show_id, kind, episode_id):
    with pytest.raises(ValueError):
        media_key(show_id, kind, "x.mp3", episode_id=episode_id)


def test_keys_and_a_local_store_do_not_load_boto3(tmp_path):
    """A fresh interpreter: building and reading keys, and a local store at work, leave boto3 unimported."""
    code = f"""
import sys
from podcast_host import storage
from podcast_host.storage import LocalStore, media_key, parse_media_key, served_type, store_from_url

key = media_key(1, "audio", "episode.mp3", episode_id=2)
assert parse_media_key(key).episode_id == 2 and served_type(key) == "audio/mpeg"
assert storage.key_prefix("s3://bucket/podcasts") == "podcasts"
store = LocalStore({str(tmp_path / "media")!r})
store.put_bytes(key, b"audio", "audio/mpeg")
assert store.open(key).read() == b"audio"
assert isinstance(store_from_url("file://{tmp_path}/other"), LocalStore)
print(sorted(name for name in ("boto3", "botocore", "s3transfer") if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- local folder -------------------------------------------------------------------------------------------


def test_local_objects_live_under_the_root(tmp_path):
    store = LocalStore(tmp_path / "media")
    store.put_bytes(KEY, b"audio", "audio/mpeg")

    path = store.local_path(KEY)

    assert path == (tmp_path / "media" / KEY).resolve()
    assert path.read_bytes() == b"audio"
    assert not store.local_path("shows/1/image/missing.jpg").exists()
    with pytest.raises(ValueError):
        store.local_path("../outside.mp3")


def test_local_put_file_is_atomic_and_leaves_no_temporary_files(tmp_path):
    store = LocalStore(tmp_path / "media")
    store.put_bytes(KEY, b"published", "audio/mpeg")

    with pytest.raises(FileNotFoundError):
        store.put_file(KEY, tmp_path / "vanished-upload.mp3", "audio/mpeg")

    with store.open(KEY) as handle:
        assert handle.read() == b"published"
    assert os.listdir(store.local_path(KEY).parent) == ["episode.mp3"]


def test_local_writes_in_progress_sit_in_one_folder_of_the_root(tmp_path):
    """What a crashed write leaves behind is then found by listing one folder, not the whole media tree."""
    import threading

    store = LocalStore(tmp_path / "media")
    source = tmp_path / "upload.fifo"
    os.mkfifo(source)
    writing = threading.Thread(target=store.put_file, args=(KEY, source, "audio/mpeg"))
    writing.start()
    partial = tmp_path / "media" / ".uploads"
    with source.open("wb") as feed:
        feed.write(b"first half")
        feed.flush()
        deadline = time.monotonic() + 10
        while not (partial.is_dir() and any(partial.iterdir())):
            assert time.monotonic() < deadline, "the write never started"
            time.sleep(0.01)
        assert [p.name.startswith(".upload-") for p in partial.iterdir()] == [True]
        assert not store.exists(KEY)
        assert [p for p in (tmp_path / "media").rglob("*") if p.is_file() and partial not in p.parents] == []
        feed.write(b", second half")
    writing.join(timeout=10)
    assert store.local_path(KEY).read_bytes() == b"first half, second half"
    assert list(partial.iterdir()) == []


def test_a_symlink_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "media" / "shows").mkdir(parents=True)
    (tmp_path / "media" / "shows" / "9").symlink_to(outside)
    store = LocalStore(tmp_path / "media")

    with pytest.raises(ValueError):
        store.put_bytes("shows/9/image/cover.jpg", b"x", "image/jpeg")
    assert list(outside.iterdir()) == []


def test_local_public_url_is_none_unless_a_media_url_is_set(tmp_path):
    assert LocalStore(tmp_path).public_url(KEY) is None
    cdn = LocalStore(tmp_path, media_url="https://cdn.example.com/media/")
    assert cdn.public_url(KEY) == f"https://cdn.example.com/media/{KEY}"
    arabic = cdn.public_url("shows/1/audio/نشرة.mp3")
    assert arabic == "https://cdn.example.com/media/shows/1/audio/%D9%86%D8%B4%D8%B1%D8%A9.mp3"


def test_local_check_creates_the_root_and_refuses_a_file_in_its_place(tmp_path):
    LocalStore(tmp_path / "new" / "media").check()
    assert (tmp_path / "new" / "media").is_dir()

    (tmp_path / "blocker").write_text("not a folder")
    with pytest.raises(StorageError):
        LocalStore(tmp_path / "blocker").check()


# --- S3 -----------------------------------------------------------------------------------------------------


@pytest.mark.s3
def test_s3_keys_get_the_prefix_once(seaweedfs, bucket, s3_store):
    s3_store.put_bytes(KEY, b"x", "audio/mpeg")

    listing = seaweedfs.client().list_objects_v2(Bucket=bucket, Prefix=s3_store.prefix)
    assert [item["Key"] for item in listing["Contents"]] == [f"{s3_store.prefix}/{KEY}"]


@pytest.mark.s3
def test_s3_large_uploads_go_up_in_parts(seaweedfs, bucket, s3_store, tmp_path):
    source = tmp_path / "long.mp3"
    source.write_bytes(os.urandom(12 * 1000 * 1000))

    s3_store.put_file(KEY, source, "audio/mpeg")

    head = seaweedfs.client().head_object(Bucket=bucket, Key=f"{s3_store.prefix}/{KEY}")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag names its part count
    assert head["ContentType"] == "audio/mpeg"


@pytest.mark.s3
def test_s3_public_url_without_media_url_is_a_working_presigned_url(s3_store):
    body = bytes(range(256)) * 4
    s3_store.put_bytes(KEY, body, "audio/mpeg")
    url = s3_store.public_url(KEY)

    with urllib.request.urlopen(url) as response:
        assert (response.status, response.headers["Content-Type"]) == (200, "audio/mpeg")
        assert response.read() == body
    # SigV4 signs the method: HEAD needs its own URL (the web layer redirects HEAD there).
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"))
    head = urllib.request.Request(s3_store.public_url(KEY, method="HEAD"), method="HEAD")
    with urllib.request.urlopen(head) as response:
        assert (response.status, response.headers["Content-Length"]) == (200, str(len(body)))
        assert response.headers["Content-Type"] == "audio/mpeg"
    ranged = urllib.request.Request(url, headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(ranged) as response:
        assert (response.status, response.headers["Content-Range"]) == (206, f"bytes 10-19/{len(body)}")
        assert response.read() == body[10:20]


@pytest.mark.s3
def test_s3_put_file_keeps_the_content_type(s3_store, tmp_path):
    (tmp_path / "chapters.json").write_text('{"version": "1.2.0", "chapters": []}')
    s3_store.put_file(KEY, tmp_path / "chapters.json", "application/json+chapters")

    request = urllib.request.Request(s3_store.public_url(KEY, method="HEAD"), method="HEAD")
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"] == "application/json+chapters"


def test_s3_public_url_with_media_url_points_at_the_cdn():
    store = S3Store("media", prefix="podcasts", media_url="https://cdn.example.com", client=object())

    assert store.public_url(KEY) == f"https://cdn.example.com/podcasts/{KEY}"
    assert store.public_url(KEY, method="HEAD") == f"https://cdn.example.com/podcasts/{KEY}"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "get"])
def test_public_urls_are_only_for_reading(tmp_path, method):
    with pytest.raises(ValueError):
        LocalStore(tmp_path).public_url(KEY, method=method)
    with pytest.raises(ValueError):
        S3Store("media", client=object()).public_url(KEY, method=method)


def test_s3_presigned_url_expires_in_about_an_hour(aws_env):
    store = S3Store("media", endpoint_url="http://127.0.0.1:9", region="eu-west-1")

    url = store.public_url(KEY)

    assert url.startswith(f"http://127.0.0.1:9/media/{KEY}?")
    assert "X-Amz-Expires=3600" in url and "X-Amz-Signature=" in url
    assert store.public_url(KEY, method="HEAD") != url
    assert store.local_path(KEY) is None


@pytest.mark.s3
def test_s3_a_missing_bucket_fails_the_check(seaweedfs, aws_env):
    store = S3Store("no-such-bucket-here", endpoint_url=seaweedfs.endpoint_url)

    with pytest.raises(StorageError, match="no-such-bucket-here"):
        store.check()
    for call in (lambda: store.put_bytes(KEY, b"x", "audio/mpeg"), lambda: store.open(KEY)):
        with pytest.raises(StorageError, match="bucket"):  # a missing bucket is not a missing object
            call()


def test_s3_unreachable_store_fails_within_seconds(aws_env):
    store = S3Store("media", endpoint_url=f"http://127.0.0.1:{unused_port()}")

    started = time.monotonic()
    with pytest.raises(StorageError, match="127.0.0.1"):
        store.check()
    assert time.monotonic() - started < 5
    for call in (lambda: store.put_bytes(KEY, b"x", "audio/mpeg"), lambda: store.open(KEY)):
        with pytest.raises(StorageError):  # unreachable is never mistaken for "missing"
            call()


# --- store_from_url -----------------------------------------------------------------------------------------


def test_a_file_url_makes_a_local_store(tmp_path):
    store = store_from_url(f"file://{tmp_path}/media", media_url="https://cdn.example.com")

    assert isinstance(store, LocalStore)
    assert store.root == (tmp_path / "media").resolve()
    assert store.public_url(KEY) == f"https://cdn.example.com/{KEY}"
    assert store_from_url(f"file://localhost{tmp_path}").root == tmp_path.resolve()


def test_an_s3_url_makes_an_s3_store(aws_env):
    store = store_from_url(
        "s3://podcast-media/prod/audio?endpoint_url=http://127.0.0.1:8333&region=eu-central-1"
    )

    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == ("podcast-media", "prod/audio")
    assert (store.endpoint_url, store.region) == ("http://127.0.0.1:8333", "eu-central-1")
    assert store_from_url("s3://podcast-media").prefix == ""


@pytest.mark.s3
def test_a_store_from_an_s3_url_works_end_to_end(seaweedfs, bucket, aws_env):
    store = store_from_url(f"s3://{bucket}/from-url?endpoint_url={seaweedfs.endpoint_url}")

    store.check()
    store.put_bytes(KEY, b"configured", "audio/mpeg")
    with store.open(KEY) as handle:
        assert handle.read() == b"configured"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://host/media", "Unsupported"),
        ("/var/media", "Unsupported"),
        ("", "Unsupported"),
        ("file://instance/media", "absolute"),
        ("file:relative/media", "absolute"),
        ("file:///srv/media?x=1", "no options"),
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3://Bad_Bucket", "invalid"),
        ("s3://media?endpoint=http://x", "unknown option"),
        ("s3://media?region=", "non-empty"),
        ("s3://media?region=a&region=b", "exactly one"),
        ("s3://media?endpoint_url=localhost:9000", "http"),
        ("s3://media/a/../b", "unsafe"),
    ],
)
def test_bad_storage_urls_are_refused_with_a_clear_sentence(url, complaint):
    with pytest.raises(ValueError, match=complaint):
        store_from_url(url)


def test_credentials_in_the_url_are_refused_without_echoing_them():
    with pytest.raises(ValueError) as excinfo:
        store_from_url("s3://AKIAEXAMPLE:hunter2@media")
    assert "hunter2" not in str(excinfo.value)


def test_a_relative_media_url_is_refused(tmp_path):
    with pytest.raises(ValueError, match="media URL"):
        store_from_url(f"file://{tmp_path}", media_url="/media")
