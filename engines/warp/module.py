"""The warp renderer: avatar cache + motion frames → RGB frames, one batched torch module.

Per frame (all batched, all exportable to ONNX with ``GridSample``):

1. clamp the motion; the face model gives the target landmarks twice: with everything but the
   eyelids and gaze (drives the main warp), and with only the eyelids and gaze and no pose
   (drives the eye module, in reference pixels);
2. the skull's similarity ``S`` from rigid landmarks moves the anchors around the face;
3. control displacements → two forward node fields (upper and lower layer of the mouth cut) by
   one matrix product; Newton-inverted on the node grid and upsampled to a backward map per layer;
   the lip layers' sources are kept out of the reference's mouth opening (``lipline``: lips that
   meet seal instead of showing the photo's teeth between them); the upper layer wins where its
   pre-image lies above the mouth line;
4. the eye module corrects the backward map in the reference frame (lids, iris) and paints sclera;
5. ``grid_sample`` of the reference crop; the mouth interior (skull-fixed ROI) is composited
   inside the target inner-lip contour.

Only the mouth needs two layers, the seal and the painted interior, so those run on the mouth's
*window*: a box of fixed size (the mouth ROI as the widest head pose can turn, scale and shear it)
that follows the mouth every frame. The rest of the frame is one read of the upper layer; the
window's pixels are written over it. Outside the window the painted layer is empty and the seal
pushes nothing, so the frame is the same as rendering everything everywhere (a test compares the
two over extreme motion), on about a quarter of the frame at 256 px.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.face_model import FaceModel
from xactor.engines.warp import eyelid, flow, head, lipline, mouth
from xactor.engines.warp.cache import AvatarCache
from xactor.engines.warp.field_blocks import FieldBlocks, apply_blocks

EYE_CHANNELS: tuple[str, ...] = (
    *(f"{kind}{side}" for kind in ("eyeBlink", "eyeWide", "eyeSquint") for side in ("Left", "Right")),
    "gazeYaw",
    "gazePitch",
)


def _channel_mask(names: tuple[str, ...]) -> torch.Tensor:
    mask = torch.zeros(ms.MOTION_DIM)
    mask[[ms.INDEX[n] for n in names]] = 1.0
    return mask


class WarpRenderer(nn.Module):
    """motion [B, 40] → frames [B, 3, S, S] in [0, 1] for one avatar (constants in buffers)."""

    # Buffers (per-avatar constants; see AvatarCache for their meaning).
    crop: torch.Tensor  # [1, 3, S, S]
    ref: torch.Tensor  # [478, 2]
    control_idx: torch.Tensor  # [N]
    rigid_idx: torch.Tensor  # [R]
    parallax_drop: torch.Tensor  # [478, 1]
    anchor_follows: torch.Tensor  # [A]
    anchor_weight: torch.Tensor  # [A, 1]
    mouth_frame_idx: torch.Tensor  # [K]
    mouth_frame_pinv: torch.Tensor  # [3, K]
    layer_nodes: torch.Tensor  # [2, G] per layer node: its cut-field column (field_blocks order)
    node_px: torch.Tensor  # [g, g, 2]
    window_dx: torch.Tensor  # [1, 1, W] the mouth window's columns from its left edge
    window_dy: torch.Tensor  # [1, H, 1] its rows from its top edge
    roi_centre: torch.Tensor  # [1, 1, 2] the mouth ROI's centre (reference px)
    main_mask: torch.Tensor  # [40]
    eye_mask: torch.Tensor  # [40]
    pose_mask: torch.Tensor  # [40]
    low: torch.Tensor  # [40]
    high: torch.Tensor  # [40]
    own_motion: torch.Tensor  # [40] the portrait's own opening (retargeting)

    def __init__(
        self,
        cache: AvatarCache,
        face_model: FaceModel,
        newton_steps: int = 6,
        own_motion: np.ndarray | None = None,
        mouth_window: bool = True,
    ) -> None:
        """``mouth_window=False`` renders the mouth's layers over the whole frame (the same
        picture, slower: what the window is tested against)."""
        super().__init__()
        self.size, self.nodes, self.newton_steps = cache.size, cache.nodes, newton_steps
        self.face_model = face_model
        s, g = cache.size, cache.nodes
        crop = torch.as_tensor(cache.crop, dtype=torch.float32).permute(2, 0, 1)[None] / 255.0
        self.register_buffer("crop", crop.contiguous())  # [1, 3, S, S]
        self.register_buffer("ref", torch.as_tensor(cache.ref_landmarks))  # [478, 2]
        self.register_buffer("control_idx", torch.as_tensor(cache.control_idx, dtype=torch.long))
        self.register_buffer("rigid_idx", torch.as_tensor(fr.RIGID, dtype=torch.long))
        keep = head.parallax_keep(cache.ref_landmarks)
        self.register_buffer("parallax_drop", torch.as_tensor(1.0 - keep)[:, None])  # [478, 1]
        self.register_buffer("anchor_follows", torch.as_tensor(cache.anchors.follows, dtype=torch.long))
        self.register_buffer("anchor_weight", torch.as_tensor(cache.anchors.weight)[:, None])  # [A, 1]
        self.register_buffer("mouth_frame_idx", torch.as_tensor(head.MOUTH_FRAME_POINTS, dtype=torch.long))
        frame_pts = cache.ref_landmarks[list(head.MOUTH_FRAME_POINTS)]
        self.register_buffer("mouth_frame_pinv", torch.as_tensor(head.affine_fit_matrix(frame_pts)))
        blocks = FieldBlocks.split(cache.weights, g)  # W [G, M] as dense blocks of its non-zeros
        for group, (cols, block) in enumerate(zip(blocks.columns, blocks.blocks, strict=True)):
            self.register_buffer(f"field_columns_{group}", torch.as_tensor(cols))  # [T, K]
            self.register_buffer(f"field_blocks_{group}", torch.as_tensor(block))  # [T, K, tile²]
        self._field_groups = len(blocks.blocks)
        # Each layer's node reads the cut field's node layer_*[i], found at its place in the
        # blocks' output order.
        place = np.argsort(blocks.order)
        layers = np.stack([place[cache.layer_up], place[cache.layer_low]])  # [2, G]
        self.register_buffer("layer_nodes", torch.as_tensor(layers, dtype=torch.long))
        axis = torch.arange(g, dtype=torch.float32) * ((s - 1) / (g - 1))
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("node_px", torch.stack([xs, ys], -1))  # [g, g, 2]
        self.register_buffer("main_mask", 1.0 - _channel_mask(EYE_CHANNELS))
        self.register_buffer("eye_mask", _channel_mask(EYE_CHANNELS))
        self.register_buffer("pose_mask", _channel_mask(ms.NAMES[ms.POSE_SLICE]))
        self.register_buffer("low", torch.as_tensor(ms.LOW))
        self.register_buffer("high", torch.as_tensor(ms.HIGH))
        # Retargeting (engines/warp/retarget.py): the portrait's own opening, subtracted from every
        # motion; the face model must then accept the negative coefficients that close it.
        own = torch.as_tensor(
            np.zeros(ms.MOTION_DIM) if own_motion is None else own_motion, dtype=torch.float32
        )
        self.register_buffer("own_motion", own)  # [40]
        face_model.low = torch.minimum(face_model.low, -own)
        for k, v in cache.eye_tensors().items():
            self.register_buffer(f"eye_{k}", v)
        for k, v in cache.mouth_tensors().items():
            self.register_buffer(f"mouth_{k}", v)
        self.mouth_depth_scale = float(cache.mouth.depth_scale)  # plain floats: graph constants
        self.mouth_softness = float(cache.mouth.softness)
        self._eye_keys = tuple(cache.eye_tensors())
        self.eye_y0, self.eye_x0 = cache.eyes.y0, cache.eyes.x0
        self._mouth_keys = tuple(cache.mouth_tensors())
        corners = cache.mouth.nodes[[0, 0, -1, -1], [0, -1, 0, -1]]  # [4, 2] the ROI's corners (px)
        self.register_buffer("roi_centre", torch.as_tensor(corners.mean(0), dtype=torch.float32)[None, None])
        height, width = self._window_size(corners) if mouth_window else (s, s)
        self.window = (height, width)
        self.register_buffer("window_dx", torch.arange(width, dtype=torch.float32)[None, None])  # [1, 1, W]
        self.register_buffer(
            "window_dy", torch.arange(height, dtype=torch.float32)[None, :, None]
        )  # [1, H, 1]

    @torch.no_grad()
    def _window_size(self, corners: np.ndarray, margin: int = 3) -> tuple[int, int]:
        """(H, W) px: the mouth ROI's box in the target frame under every extreme head pose (each
        pose channel at its low, zero or high end: 729 poses), centred on the ROI's centre, plus
        ``margin`` and a pixel for the window's whole-pixel origin; at most the frame."""
        pose = list(range(ms.POSE_SLICE.start, ms.POSE_SLICE.stop))
        levels = torch.stack([self.low[pose], torch.zeros(len(pose)), self.high[pose]])  # [3, P]
        combos = torch.cartesian_prod(*[torch.arange(3)] * len(pose))  # [3^P, P]
        probes = torch.zeros(len(combos), ms.MOTION_DIM)
        probes[:, pose] = levels[combos, torch.arange(len(pose))]
        posed = self.face_model((probes - self.own_motion) * self.pose_mask)[..., :2]
        frame_ref = self.ref[self.mouth_frame_idx]
        to_target, _ = head.fit_affine(self.mouth_frame_pinv, frame_ref, posed[:, self.mouth_frame_idx])
        points = torch.as_tensor(
            np.concatenate([corners, corners.mean(0, keepdims=True)]), dtype=torch.float32
        )
        moved = head.apply_affine(to_target, points[None])  # [3^P, 5, 2]
        reach = (moved[:, :4] - moved[:, 4:]).abs().amax((0, 1))  # [2] (x, y) half extents
        width, height = (2 * int(np.ceil(float(r))) + 2 * margin + 2 for r in reach)
        return min(height, self.size), min(width, self.size)

    def _group(self, prefix: str, keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return {k: getattr(self, f"{prefix}_{k}") for k in keys}

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        """motion [B, 40] (any values: clamped, NaN → 0) → frames [B, 3, S, S] float in [0, 1]."""
        s, g = self.size, self.nodes
        motion = torch.nan_to_num(motion.to(torch.float32), nan=0.0, posinf=1e4, neginf=-1e4)
        motion = torch.maximum(torch.minimum(motion, self.high), self.low) - self.own_motion  # retarget
        batch = motion.shape[0]
        masked = torch.cat([motion * self.main_mask, motion * self.eye_mask, motion * self.pose_mask], 0)
        landmarks = self.face_model(masked)[..., :2]  # [3B, 478, 2]
        target, lids, posed = landmarks[:batch], landmarks[batch : 2 * batch], landmarks[2 * batch :]

        # Landmark displacements, less the pose parallax near the outline (it would fold there).
        skull = head.fit_similarity(self.ref[self.rigid_idx], posed[:, self.rigid_idx])  # [B, 2, 3]
        parallax = posed - head.apply_affine(skull, self.ref[None])  # [B, 478, 2]
        disp = target - self.ref - self.parallax_drop * parallax  # [B, 478, 2]
        # Control displacements: landmarks, and anchors following their oval points.
        d_face = disp[:, self.control_idx]  # [B, N, 2]
        d_anchor = self.anchor_weight * disp[:, self.anchor_follows]
        d = torch.cat([d_face, d_anchor], 1)  # [B, M, 2]

        # Forward node fields of both layers, inverted on the node grid: backward maps at the nodes.
        columns = [getattr(self, f"field_columns_{k}") for k in range(self._field_groups)]
        blocks = [getattr(self, f"field_blocks_{k}") for k in range(self._field_groups)]
        cut = apply_blocks(columns, blocks, d.transpose(1, 2).reshape(batch * 2, -1))  # [B*2 (xy), G]
        fields = cut.reshape(batch, 2, -1)[:, :, self.layer_nodes]  # [B, xy, layer, G]
        fields = fields.transpose(1, 2).reshape(batch * 2, 2, g, g)  # [2B (b, layer), xy, g, g]
        pre = flow.invert_forward(fields, self.node_px, s, self.newton_steps)  # [2B, g, g, 2]
        pre = pre.reshape(batch, 2, g, g, 2).permute(0, 1, 4, 2, 3)  # [B, layer, xy, g, g]
        # The upper layer everywhere (one channel per map: faster), already in grid_sample's
        # coordinates: the conversion is affine, so it commutes with bilinear upsampling and runs
        # on g² nodes instead of S² pixels; both layers in the window.
        upper = F.interpolate(
            flow.pixel_coords(pre[:, 0], s).reshape(batch * 2, 1, g, g),
            size=(s, s),
            mode="bilinear",
            align_corners=True,
        )
        upper = upper.reshape(batch, 2, s, s)  # [B, xy, S, S] grid coordinates

        # The mouth's window: a fixed-size box of target pixels that follows the mouth.
        m = self._group("mouth", self._mouth_keys)
        frame_ref = self.ref[self.mouth_frame_idx]
        to_target, to_ref = head.fit_affine(self.mouth_frame_pinv, frame_ref, posed[:, self.mouth_frame_idx])
        win_x, win_y = self._window(
            head.apply_affine(to_target, self.roi_centre)[:, 0]
        )  # [B, 1, W], [B, H, 1]
        win_h, win_w = self.window
        win_xy = torch.stack([win_x.expand(-1, win_h, -1), win_y.expand(-1, -1, win_w)], -1)  # [B, H, W, 2]
        sources = F.grid_sample(
            pre.reshape(batch, 4, g, g), flow.node_coords(win_xy, s), mode="bilinear", align_corners=True
        ).reshape(batch, 2, 2, win_h, win_w)  # [B, layer, xy, H, W]: the same values interpolate gives

        # Mouth: interior painted in the skull frame near the mouth, which also says on which
        # side of the target mouth line each pixel lies (upper or lower warp layer).
        polygon = head.apply_affine(to_ref, target[:, list(mouth.INNER_LIP_POLYGON)])  # [B, 20, 2]
        lip = mouth.LOWER_LIP_CENTRE  # the lower teeth ride with the lower lip's middle
        jaw = head.apply_affine(to_ref, target[:, lip][:, None])[:, 0] - self.ref[lip]  # [B, 2]
        painted = mouth.mouth_layer(m, polygon, jaw, self.mouth_depth_scale, self.mouth_softness)
        to_roi = head.compose_affine(m["to_roi"][None], to_ref)  # target px → ROI coordinates
        painted = F.grid_sample(
            painted,
            self._affine_grid(to_roi, win_x, win_y),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=True,
        )  # [B, 7, H, W]: premultiplied RGB, alpha, below the mouth line, least lip heights
        # The lip layers never read the photo's mouth opening (its teeth): lips that meet seal.
        sources = lipline.seal_sources(m["seal"], m["to_roi"], m["frame"][2], sources, painted[:, 5:7])

        # Eyes: lids and irises redrawn in the reference crop; then reads of that crop.
        eyes = self._group("eye", self._eye_keys)
        patches = eyelid.eye_patches(eyes, self.crop, lids, self.ref)  # [B, E, 3, H, W]
        source = eyelid.paste_patches(self.crop, patches, self.eye_y0, self.eye_x0)  # [B, 3, S, S]
        frame = F.grid_sample(
            source,
            upper.permute(0, 2, 3, 1),
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )  # [B, 3, S, S]
        # In the window both layers in one read (stacked along the rows), blended by colour:
        # blending their *source points* across the mouth line would read the photo halfway
        # between the lips.
        both = sources.permute(0, 1, 3, 4, 2).reshape(batch, 2 * win_h, win_w, 2)  # [B, 2H (layer, y), W, xy]
        layers = F.grid_sample(
            source, flow.pixel_coords(both, s), mode="bilinear", padding_mode="border", align_corners=False
        )  # [B, 3, 2H, W]
        window = layers[:, :, :win_h] + painted[:, 4:5] * (layers[:, :, win_h:] - layers[:, :, :win_h])
        window = window * (1.0 - painted[:, 3:4]) + painted[:, 0:3]  # the mouth interior goes over
        # Bilinear reads of a [0, 1] crop stay in [0, 1]: only the painted window needs clamping.
        window = torch.clamp(window, 0.0, 1.0).reshape(batch, 3, win_h * win_w)
        at = (win_y * s + win_x).to(torch.int64).reshape(batch, 1, win_h * win_w).expand(-1, 3, -1)
        return frame.reshape(batch, 3, s * s).scatter_(2, at, window).reshape(batch, 3, s, s)

    def _window(self, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mouth window's pixel columns [B, 1, W] and rows [B, H, 1] (whole pixels, inside the
        frame) around the mouth ROI's centre in the target frame, ``centre`` [B, 2] px."""
        height, width = self.window
        x0 = torch.clamp(torch.floor(centre[:, 0] - 0.5 * (width - 1)), 0.0, float(self.size - width))  # [B]
        y0 = torch.clamp(torch.floor(centre[:, 1] - 0.5 * (height - 1)), 0.0, float(self.size - height))
        return x0[:, None, None] + self.window_dx, y0[:, None, None] + self.window_dy

    @staticmethod
    def _affine_grid(matrix: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """An affine [B, 2, 3] at pixels ``xs`` [B, 1, W] × ``ys`` [B, H, 1] → grid [B, H, W, 2]
        (elementwise: exports)."""
        m = matrix[:, :, :, None, None]  # [B, 2, 3, 1, 1]
        gx = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]  # [B, H, W]
        gy = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
        return torch.stack([gx, gy], -1)


def probe_motion(batch: int) -> torch.Tensor:
    """[B, 40] a mouth half open and the head a little turned: what a trace or an export runs on
    (every branch of the warp takes part)."""
    probe = torch.zeros(batch, ms.MOTION_DIM)
    probe[:, ms.INDEX["jawOpen"]] = 0.5
    probe[:, ms.INDEX["headYaw"]] = 0.1
    return probe
