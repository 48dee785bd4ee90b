"""Spoken prompts made with the real espeak-ng and kept as 8 kHz WAV files (appliance.ivr.prompts)."""

from __future__ import annotations

import io
import subprocess
import threading
import wave

import numpy as np
import pytest

from appliance import pcm
from appliance.ivr.prompts import PromptCache, PromptError

TEXT = "Thank you for calling."


@pytest.fixture
def cache(tmp_path):
    return PromptCache(tmp_path / "prompts")


def espeak_directly(text: str) -> tuple[int, int]:
    """(samples, rate) of espeak-ng's own output for ``text``, for comparison."""
    out = subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "--stdout", text],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate = w.getframerate()
        n = len(w.readframes(w.getnframes())) // 2
    return n, rate


def no_programs_on_path(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


def test_a_prompt_is_speech_at_8khz_of_the_expected_length(cache):
    samples = cache.get(TEXT)
    assert samples.dtype == np.int16 and samples.ndim == 1
    n, rate = espeak_directly(TEXT)
    assert rate != pcm.LINE_RATE  # so the cache really resampled
    assert abs(len(samples) - n * pcm.LINE_RATE / rate) <= 2
    assert 0.8 < len(samples) / pcm.LINE_RATE < 3.0  # four words at 150 words a minute
    assert pcm.rms(samples) > 500  # not silence
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(samples), 1 / pcm.LINE_RATE)
    voice_band = spectrum[(freqs > 100) & (freqs < 1000)].sum()
    assert voice_band > 0.3 * spectrum.sum()  # a voice, not noise or a wrong rate


def test_longer_texts_make_longer_prompts(cache):
    short = cache.get("Hello.")
    long = cache.get("Hello. All our staff are busy at the moment, please stay on the line.")
    assert len(long) > 3 * len(short)


def test_the_prompt_is_stored_as_an_8khz_mono_wav_named_by_its_text(cache):
    samples = cache.get(TEXT)
    path = cache.path_for(TEXT)
    assert path.parent == cache.directory and path.suffix == ".wav" and len(path.stem) == 40
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        stored = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.array_equal(stored, samples)
    assert [p.name for p in cache.directory.iterdir()] == [path.name]  # no temporary files left


def test_voice_and_speed_are_part_of_the_file_name(tmp_path):
    a = PromptCache(tmp_path, speed=150).path_for(TEXT)
    b = PromptCache(tmp_path, speed=180).path_for(TEXT)
    c = PromptCache(tmp_path, voice="en-us").path_for(TEXT)
    assert len({a, b, c}) == 3


def test_a_faster_speed_makes_a_shorter_prompt(tmp_path):
    slow = PromptCache(tmp_path, speed=120).get(TEXT)
    fast = PromptCache(tmp_path, speed=240).get(TEXT)
    assert len(fast) < 0.75 * len(slow)


def test_a_second_request_is_answered_from_memory_without_espeak(cache):
    first = cache.get(TEXT)
    assert cache.synth_count == 1
    assert cache.get(TEXT) is first
    assert cache.synth_count == 1


def test_a_new_cache_on_the_same_folder_reuses_the_file_without_running_espeak(
        tmp_path, monkeypatch):
    first = PromptCache(tmp_path).get(TEXT)
    path = PromptCache(tmp_path).path_for(TEXT)
    mtime = path.stat().st_mtime_ns
    no_programs_on_path(monkeypatch, tmp_path)  # espeak-ng could not run now even if tried
    again = PromptCache(tmp_path)
    assert np.array_equal(again.get(TEXT), first)
    assert again.synth_count == 0
    assert path.stat().st_mtime_ns == mtime


def test_the_same_words_with_different_spacing_share_one_prompt(cache):
    cache.get(TEXT)
    cache.get("  Thank you\nfor   calling. ")
    assert cache.synth_count == 1


def test_a_corrupt_cache_file_is_synthesised_again(tmp_path):
    good = PromptCache(tmp_path).get(TEXT)
    path = PromptCache(tmp_path).path_for(TEXT)
    path.write_bytes(b"this is not a wav file")
    cache = PromptCache(tmp_path)
    assert np.array_equal(cache.get(TEXT), good)
    assert cache.synth_count == 1
    with wave.open(str(path)) as w:
        assert w.getnframes() == len(good)


def test_a_cut_short_cache_file_is_synthesised_again(tmp_path):
    good = PromptCache(tmp_path).get(TEXT)
    path = PromptCache(tmp_path).path_for(TEXT)
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    cache = PromptCache(tmp_path)
    assert np.array_equal(cache.get(TEXT), good)
    assert cache.synth_count == 1


def test_a_cache_file_at_the_wrong_rate_is_synthesised_again(tmp_path):
    path = PromptCache(tmp_path).path_for(TEXT)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050)
        w.writeframes(b"\x00\x10" * 1000)
    cache = PromptCache(tmp_path)
    assert len(cache.get(TEXT)) > 1000 and cache.synth_count == 1


def test_temporary_files_left_by_a_power_cut_are_removed(tmp_path):
    leftover = tmp_path / "0123456789abcdef0123456789abcdef01234567.wav.tmpk3j4"
    leftover.write_bytes(b"RIFF half a file")
    PromptCache(tmp_path)
    assert not leftover.exists()


def test_prewarm_makes_every_prompt_up_front(cache):
    texts = ["For sales press 1.", "Please hold.", "Goodbye."]
    cache.prewarm(texts)
    assert cache.synth_count == 3
    assert all(cache.path_for(t).exists() for t in texts)


def test_two_lines_asking_for_the_same_new_prompt_at_once_synthesise_it_once(cache):
    start = threading.Barrier(4)
    results = []

    def ask():
        start.wait(timeout=10)
        results.append(cache.get("Please hold, someone will be with you shortly."))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert cache.synth_count == 1


def test_prompts_cannot_be_changed_by_whoever_plays_them(cache):
    samples = cache.get(TEXT)
    with pytest.raises(ValueError):
        samples[:10] = 0


def test_text_starting_with_a_dash_is_spoken_not_taken_as_an_option(cache):
    samples = cache.get("-v is not a voice option here")
    assert len(samples) / pcm.LINE_RATE > 1.0 and pcm.rms(samples) > 500


def test_missing_espeak_gives_a_clear_message_and_stores_nothing(cache, monkeypatch, tmp_path):
    no_programs_on_path(monkeypatch, tmp_path)
    with pytest.raises(PromptError, match=r"The speech synthesiser espeak-ng is not installed; "
                                          r"run make demo / apt-get install espeak-ng"):
        cache.get(TEXT)
    assert list(cache.directory.iterdir()) == []


def test_an_unknown_voice_gives_a_clear_message(tmp_path):
    with pytest.raises(PromptError, match="no voice called 'martian'"):
        PromptCache(tmp_path, voice="martian").get(TEXT)
    assert list(tmp_path.iterdir()) == []


def test_empty_text_is_refused_with_a_clear_message(cache):
    with pytest.raises(PromptError, match="has no words to speak"):
        cache.get("   ")


def test_a_bad_speed_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(PromptError, match="between 80 and 450"):
        PromptCache(tmp_path, speed=5)


def test_a_cache_folder_that_cannot_be_created_is_explained(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PromptError, match="folder for spoken prompts.*cannot be created"):
        PromptCache(blocker / "prompts")


def test_a_cache_folder_that_cannot_be_written_still_gives_the_prompt(tmp_path, caplog):
    folder = tmp_path / "prompts"
    cache = PromptCache(folder)
    folder.rmdir()
    folder.write_text("the folder was replaced by a file")  # writing into it now fails
    samples = cache.get(TEXT)
    assert len(samples) / pcm.LINE_RATE > 0.8
    assert "could not store prompt" in caplog.text
    assert cache.get(TEXT) is samples  # kept in memory all the same
