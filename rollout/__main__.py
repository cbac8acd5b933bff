from rollout.cli.main import main

raise SystemExit(main())
