"""Real-speech evaluation (``xactor eval real``): real people's recordings, aligned to phones by an
acoustic model, animated on several portraits offline and live, measured from the rendered pixels
and in motion space.

Modules, one job each: :mod:`manifest` (the dev set's list, ``devset.toml``), :mod:`devset`
(fetch and cut the clips), :mod:`align` (pocketsphinx phone alignment), :mod:`phones` (phone
classes and openness targets per frame), :mod:`pixels` (inner-lip aperture from rendered frames),
:mod:`motion_space` (the same from motion, through the face model), :mod:`metrics` (closures,
contrast, correlation, amplitude, lag), :mod:`offline` and :mod:`live` (the two ways frames are
made), :mod:`recognizer` (the generator's phone head against the alignment), :mod:`report`
(JSON and Markdown), :mod:`run` (all of it for a dev-set folder).
"""
