from diffrhythm_ui.cli import main

raise SystemExit(main())
