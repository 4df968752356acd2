import echo


def test_shout_hidden():
    assert echo.shout("hidden-secret-word") == "HIDDEN-SECRET-WORD"


def test_whisper_hidden():
    assert echo.whisper("Hidden-Secret-Quiet") == "hidden-secret-quiet"
