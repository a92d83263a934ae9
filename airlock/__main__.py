from airlock.pipeline.cli import main

raise SystemExit(main())
