from fem_spin.cli import main

raise SystemExit(main())
