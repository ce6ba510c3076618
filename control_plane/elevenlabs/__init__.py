"""The ElevenLabs-compatible front door: ``/v1/speech-to-text`` (batch, transcripts) and its realtime socket;
adapters over Tandem's jobs and live sessions."""
