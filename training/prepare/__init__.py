"""Real talking-head videos into the training formats of both stages (``xactor prepare``)."""
