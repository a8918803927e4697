-- seed_settings.sql: the settings the seed file reads in one lane's session (parameters scale,
-- lane and lanes, as text): how much data, and which share of it this lane writes.
SELECT set_config('nchat_demo.scale', %(scale)s, false),
       set_config('nchat_demo.lane', %(lane)s, false),
       set_config('nchat_demo.lanes', %(lanes)s, false)
