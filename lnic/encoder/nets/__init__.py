"""The float (torch) networks the encoder trains; the decoder runs their integer twins in
:mod:`lnic.model`, which never imports torch."""
