"""Real servers behind managed services: process managers for Debian-packaged daemons."""
