import echo


def test_shout():
    assert echo.shout("visible-word") == "VISIBLE-WORD"


def test_whisper():
    assert echo.whisper("Visible-Quiet") == "visible-quiet"


def test_chatter():
    assert echo.chatter(600) == 600


def test_silent():
    assert echo.silent() is None
