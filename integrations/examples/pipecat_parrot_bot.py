"""A pipecat bot on the SmallWebRTC transport (aiortc, fully local) with xactor as its face.

    python integrations/examples/pipecat_parrot_bot.py --server ws://127.0.0.1:8000 --port 7860
    # a WebRTC client POSTs {"sdp", "type": "offer"} to http://127.0.0.1:7860/api/offer

The "bot" repeats what it hears (the user's microphone audio becomes its TTS audio), so it
needs no STT, LLM or TTS service: the point is the plumbing. Put ``stt, llm, tts`` where
:class:`Parrot` is and it is a voice agent with a face.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from aiohttp import web
from pipecat.frames.frames import Frame, InputAudioRawFrame, TTSAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequest, SmallWebRTCRequestHandler
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner
from xactor_integrations.pipecat import XactorVideoService


class Parrot(FrameProcessor):
    """The user's audio as the bot's speech (stands in for STT → LLM → TTS)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            rate, channels = frame.sample_rate, frame.num_channels
            speech = TTSAudioRawFrame(audio=frame.audio, sample_rate=rate, num_channels=channels)
            await self.push_frame(speech, direction)
        else:
            await self.push_frame(frame, direction)


async def run_bot(connection: SmallWebRTCConnection, xactor_url: str, size: int = 256) -> None:
    transport = SmallWebRTCTransport(
        connection,
        TransportParams(
            audio_in_enabled=True,
            audio_in_sample_rate=16000,
            audio_out_enabled=True,
            audio_out_sample_rate=16000,
            video_out_enabled=True,
            video_out_is_live=True,
            video_out_width=size,
            video_out_height=size,
            video_out_framerate=25,
        ),
    )
    avatar = XactorVideoService(url=xactor_url, options={"resolution": size})
    pipeline = Pipeline([transport.input(), Parrot(), avatar, transport.output()])
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000)
    worker = PipelineWorker(pipeline, params=params)

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport: Any, _client: Any) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def make_app(xactor_url: str) -> web.Application:
    handler = SmallWebRTCRequestHandler()
    bots: set[asyncio.Task[None]] = set()

    async def offer(request: web.Request) -> web.Response:
        body = await request.json()

        async def start(connection: SmallWebRTCConnection) -> None:
            bot = asyncio.create_task(run_bot(connection, xactor_url))
            bots.add(bot)
            bot.add_done_callback(bots.discard)

        answer = await handler.handle_web_request(SmallWebRTCRequest.from_dict(body), start)
        return web.json_response(answer)

    async def cleanup(_app: web.Application) -> None:
        for bot in list(bots):
            bot.cancel()
        await asyncio.gather(*bots, return_exceptions=True)
        await handler.close()

    app = web.Application()
    app.router.add_post("/api/offer", offer)
    app.on_cleanup.append(cleanup)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="ws://127.0.0.1:8000", help="the xactor server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    web.run_app(make_app(args.server), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
