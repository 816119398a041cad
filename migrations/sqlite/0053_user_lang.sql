-- A staff user's language (issue 19 §3: "remembered per user"): `fa` or `en`, set by the
-- pages' language switch (`PUT /api/v1/me/lang`) and read at login and `GET /api/v1/me`;
-- none until they choose (the page's default then).
ALTER TABLE users ADD COLUMN lang TEXT;
