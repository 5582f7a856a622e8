"""Speak a sound file through a WebSocket session and save what comes back as an MP4.

    python examples/speak_over_websocket.py speech.wav out.mp4 [--url ws://127.0.0.1:8000] [--token T]

What a TTS pipeline does with ``WS /sessions/stream``: send the session request, push PCM16 (at
any rate, faster than real time), mark the end of the utterance, and play what comes back: each
frame message carries its picture and the audio that goes with it (server/live/wire.py). Needs
only ``websockets``, ``numpy``, ``av`` and ``opencv`` (all installed with the server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
import soxr


async def speak(wav: Path, out: Path, url: str, token: str | None, avatar: str) -> dict:
    import websockets

    from xactor.engines.audio.resample import load_wav_16k
    from xactor.engines.offline.video import Mp4Writer
    from xactor.server.live.wire import decode_frame

    speech = load_wav_16k(wav)  # any format FFmpeg reads, as 16 kHz mono
    pcm = (np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    frames, sound, events = [], [], []
    async with websockets.connect(f"{url}/sessions/stream", additional_headers=headers) as ws:
        await ws.send(json.dumps({"avatar_id": avatar, "sample_rate": 16000, "video": "jpeg"}))
        hello = json.loads(await ws.recv())
        if hello["type"] != "session":
            raise SystemExit(f"refused: {hello}")
        for start in range(0, len(pcm), 6400):  # 200 ms pieces, as a TTS stream would send them
            await ws.send(pcm[start : start + 6400])
        await ws.send(json.dumps({"type": "end_of_segment"}))
        async for message in ws:
            if isinstance(message, bytes):
                _, audio, picture = decode_frame(message)
                sound.append(audio)
                if picture is not None:
                    frames.append(picture)
            else:
                event = json.loads(message)
                events.append(event)
                if event["type"] == "segment_end":  # the last frame of the utterance is out
                    break
    audio = np.concatenate(sound)  # 16 kHz mono, exactly as long as the frames
    stereo48k = np.stack([soxr.resample(audio, 16000, 48000)] * 2).astype(np.float32)  # [2, N]
    with Mp4Writer(out, (hello["width"], hello["height"]), audio=stereo48k) as writer:
        writer.write_all(frames)
    seconds = audio.size / 16000
    return {"session": hello["session_id"], "frames": len(frames), "audio_s": seconds, "events": events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wav", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--url", default="ws://127.0.0.1:8000")
    parser.add_argument("--token")
    parser.add_argument("--avatar", default="default")
    args = parser.parse_args()
    result = asyncio.run(speak(args.wav, args.out, args.url, args.token, args.avatar))
    print(f"wrote {args.out}: {result['frames']} frames, {result['audio_s']:.2f} s of audio")


if __name__ == "__main__":
    main()
