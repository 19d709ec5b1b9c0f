"""The application factory and first-run set-up."""

from allies import create_app
from allies.extensions import db
from allies.staff.models import StaffUser


def test_config_from_test_mapping(app):
    assert app.testing
    assert not create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SECRET_KEY": "k" * 40,
            "INSTANCE_PATH": app.instance_path,
        }
    ).testing


def test_bootstrap_creates_one_admin_and_prints_its_password_once(runner, app):
    first = runner.invoke(args=["bootstrap", "--no-demo"])
    assert first.exit_code == 0, first.output
    assert "admin@example.org" in first.output and "password:" in first.output
    password = first.output.split("password:")[1].split()[0]
    with app.app_context():
        admin = db.session.scalar(db.select(StaffUser))
        assert admin.role == "admin" and admin.check_password(password)
        assert password not in admin.password_hash
    second = runner.invoke(args=["bootstrap", "--no-demo"])
    assert "password:" not in second.output


def test_demo_loads_allies_at_different_ages_and_one_applicant(runner, client):
    result = runner.invoke(args=["demo"])
    assert "Loaded demo data" in result.output
    assert runner.invoke(args=["demo"]).output.strip() == "Demo data is already loaded."
    data = client.get("/allies.json").get_json()
    names = [ally["name"] for ally in data["allies"]]
    assert "The American Academy of Family Physicians" in names
    assert "Cambridge Health Alliance (CHA)" not in names  # its term lapsed
    assert "People Power Health" not in names  # still pending


def test_users_create_cli(runner, app):
    result = runner.invoke(
        args=["users", "create", "--email", "Ops@Example.org", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    assert "Password (shown once):" in result.output
    with app.app_context():
        assert (
            db.session.scalar(db.select(StaffUser.role).where(StaffUser.email == "ops@example.org"))
            == "admin"
        )
    again = runner.invoke(args=["users", "create", "--email", "ops@example.org"])
    assert again.exit_code != 0 and "already exists" in again.output


def test_demo_data_comes_only_with_the_first_run(runner, client):
    first = runner.invoke(args=["bootstrap"], env={"ALLIES_DEMO": "0"})
    assert "admin@example.org" in first.output and "Loaded demo data" not in first.output
    later = runner.invoke(args=["bootstrap"], env={"ALLIES_DEMO": "1"})
    assert "Loaded demo data" not in later.output, "a later start never adds demo Allies"
    assert client.get("/allies.json").get_json()["count"] == 0


def test_demo_contacts_never_use_real_domains(runner, app):
    runner.invoke(args=["demo"])
    with app.app_context():
        from allies.organizations.models import Contact

        emails = db.session.scalars(db.select(Contact.email)).all()
    assert emails and all(email.endswith("@example.org") for email in emails)
