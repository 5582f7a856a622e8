"""Landmark index groups of the MediaPipe Face Mesh topology (478 points with refined irises).

Contours are ordered (corner to corner, left to right in the image for lips; outer to inner corner
for eyelids), which the face model and renderer rely on. "Left" is the subject's left (image-right).
The groups are checked against MediaPipe's own connection sets in the tests.
"""

from __future__ import annotations

NUM_LANDMARKS = 478

# Lips: each contour runs from the image-left corner (61/78, subject's right) to the image-right corner.
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNER_RIGHT = 61  # subject's right, image-left
MOUTH_CORNER_LEFT = 291

# Eyelids: each contour runs from the outer corner to the inner corner.
EYE_RIGHT_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
EYE_RIGHT_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
EYE_LEFT_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
EYE_LEFT_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)

# Brows: outer to inner; "upper" and "lower" edges of the brow.
BROW_RIGHT_UPPER = (70, 63, 105, 66, 107)
BROW_RIGHT_LOWER = (46, 53, 52, 65, 55)
BROW_LEFT_UPPER = (300, 293, 334, 296, 336)
BROW_LEFT_LOWER = (276, 283, 282, 295, 285)

IRIS_RIGHT = (468, 469, 470, 471, 472)  # centre first
IRIS_LEFT = (473, 474, 475, 476, 477)

# Face oval, clockwise from the top of the forehead (10) to the chin (152) and back.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
FOREHEAD_TOP = 10
CHIN = 152
NOSE_TIP = 1
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)

# Points that move with the skull and not with expressions: used to estimate head pose.
RIGID = (
    10,
    338,
    297,
    332,
    109,
    67,
    103,
    151,
    9,
    8,
    168,
    6,
    197,
    195,
    5,
    4,
    1,  # forehead + nose ridge
    33,
    133,
    263,
    362,  # eye corners
    127,
    356,
    234,
    454,
    162,
    389,
    21,
    251,  # temples and upper face oval
)

LIPS = tuple(sorted(set(LIPS_OUTER_UPPER + LIPS_OUTER_LOWER + LIPS_INNER_UPPER + LIPS_INNER_LOWER)))
EYE_LEFT = tuple(sorted(set(EYE_LEFT_UPPER + EYE_LEFT_LOWER)))
EYE_RIGHT = tuple(sorted(set(EYE_RIGHT_UPPER + EYE_RIGHT_LOWER)))
BROW_LEFT = BROW_LEFT_UPPER + BROW_LEFT_LOWER
BROW_RIGHT = BROW_RIGHT_UPPER + BROW_RIGHT_LOWER
