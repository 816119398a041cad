-- Districts named in both languages (issue 19 §3): `name` is the local (Persian) name, as
-- for services (`services.name` / `name_en`); `name_en` the English one, if known. The
-- staff pages show the name of their language, else the other, else the code.
ALTER TABLE districts ADD COLUMN name_en TEXT;
