"""Accounts: sign up (with email confirmation), log in and out, password reset, profile."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

login = auth_views.LoginView.as_view(template_name="groups/login.html")
logout = auth_views.LogoutView.as_view()
